import Foundation
import Logging
import SluiceTransactions

extension BrokerConfiguration {
    /// What `--print-config` shows for a configured admin token: never the secret itself.
    public static let redactedToken = "<redacted>"

    /// Each setting's effective value, spelled as the config file takes it (whole numbers for
    /// ports and counts, strings otherwise; nil for an unset admin token, `<redacted>` for a set
    /// one). Apart from the token, feeding the result back as a config file gives the same
    /// configuration.
    public var settingValues: [BrokerSetting: ConfigFileValue] {
        var values: [BrokerSetting: ConfigFileValue] = [:]
        for setting in BrokerSetting.allCases {
            values[setting] = value(of: setting)
        }
        return values
    }

    private func value(of setting: BrokerSetting) -> ConfigFileValue {
        switch setting {
        case .dataDir: .string(dataDirectory)
        case .grpcHost: .string(grpcHost)
        case .grpcPort: .number(grpcPort)
        case .adminHost: .string(adminHost)
        case .adminPort: .number(adminPort)
        case .flush: .string(flushMode.rawValue)
        case .flushInterval: .string(DurationParser.format(asyncFlushInterval))
        case .transactionTimeout: .string(DurationParser.format(transactionTimeout))
        case .transactionCheckInterval: .string(DurationParser.format(transactionCheckInterval))
        case .transactionCheckMax: .number(transactionCheckMax)
        case .segmentSize: .string(ByteSizeParser.format(segmentSizeBytes))
        case .retentionHours: .number(retentionHours)
        case .logLevel: .string(logLevel.rawValue)
        case .adminToken: adminToken == nil ? .null : .string(Self.redactedToken)
        case .trace: .string(traceEnabled ? "on" : "off")
        case .transactionCheckExhausted: .string(checkBudgetPolicy == .park ? "park" : "rollback")
        case .transactionHold: .string(DurationParser.format(transactionHold))
        case .transactionEndFlush: .string(transactionEndFlush.rawValue)
        case .autoCreateGroups: .string(autoCreateGroups ? "on" : "off")
        case .grpcServer: .string(grpcServer.rawValue)
        case .grpcMaxConnections, .grpcMaxConcurrentStreams, .grpcMaxInflightRequests, .grpcMaxBufferedRequestBytes:
            frontDoorValue(of: setting) ?? .null
        case .maxGroups: .number(clientLimits.maxGroups)
        case .maxLongPolls: .number(clientLimits.maxLongPolls)
        case .maxClients: .number(clientLimits.maxClients)
        case .auth: .string(authEnabled ? "on" : "off")
        case .authMaxClockSkew: .string(authMaxClockSkew.map(DurationParser.format) ?? "0s")
        case .bootstrapUserFile: bootstrapUserFile.map(ConfigFileValue.string) ?? .null
        case .tlsCert, .tlsKey, .tlsClientCa, .adminTlsCert, .adminTlsKey, .replicationTlsCert, .replicationTlsKey, .replicationTlsCa:
            tlsPaths[setting].map(ConfigFileValue.string) ?? .null
        case .etcd: cluster.map { .string($0.etcdEndpoints) } ?? .null
        case .brokerGroup: .string(brokerGroup)
        case .nodeId: nodeID.map(ConfigFileValue.string) ?? .null
        case .advertiseHost: advertiseHost.map(ConfigFileValue.string) ?? .null
        case .etcdLeaseTtl: .string("\(etcdLeaseTTLSeconds)s")
        case .httpPort: httpPort.map(ConfigFileValue.number) ?? .null
        case .mqttPort: mqttPort.map(ConfigFileValue.number) ?? .null
        case .mqttMaxPacketSize: mqttMaxPacketBytes.map(ConfigFileValue.number) ?? .null
        case .mqttMaxInflight: .number(mqttMaxInflight)
        case .mqttMaxQueued: .number(mqttMaxQueued)
        case .replicas: .number(replicas)
        case .replication: .string(replicationMode.rawValue)
        case .replicationTimeout: .string(DurationParser.format(replicationTimeout))
        case .replicationPort: .number(replicationPort)
        case .replicationSecretFile: replicationSecretFile.map(ConfigFileValue.string) ?? .null
        }
    }

    /// The effective configuration as one pretty-printed JSON object with sorted keys (the
    /// config-file format), for `sluice-broker --print-config`.
    public var printableJSON: String {
        var object: [String: Any] = [:]
        for (setting, value) in settingValues {
            switch value {
            case .string(let text): object[setting.key] = text
            case .number(let number): object[setting.key] = number
            case .null: object[setting.key] = NSNull()
            }
        }
        // Plain strings, numbers and null: serialisation cannot fail.
        let data =
            (try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]))
            ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// One value as a config file holds it.
public enum ConfigFileValue: Sendable, Hashable {
    case string(String)
    case number(Int)
    case null
}
