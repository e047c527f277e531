import Foundation

/// A broker config file: one JSON object whose keys are the flag names without dashes, e.g.
/// `{"data-dir": "/var/lib/sluice", "grpc-port": 8081, "flush": "async", "segment-size": "64MiB"}`.
///
/// Values may be strings, whole numbers, booleans (`true` reads as `on`, `false` as `off`) or
/// `null` (the key is ignored, as `--print-config` prints an unset token); every value goes
/// through the same parser as the flag. Unknown keys are errors, so a misspelt key never silently
/// falls back to a default.
public enum ConfigFile {
    /// - Throws: `.invalidConfiguration` when the file is missing, is not a JSON object of
    ///   strings and numbers, or has a key that is not a setting.
    public static func load(_ path: String) throws(BrokerError) -> [(BrokerSetting, String)] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw BrokerError(
                .invalidConfiguration, "cannot read config file \(path): \(error.localizedDescription)", cause: error)
        }
        let object: [String: ConfigValue]
        do {
            object = try JSONDecoder().decode([String: ConfigValue].self, from: data)
        } catch {
            throw BrokerError(
                .invalidConfiguration,
                "config file \(path) is not a JSON object of strings, whole numbers and booleans: \(describe(error))")
        }
        var settings: [(BrokerSetting, String)] = []
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            guard let setting = BrokerSetting(rawValue: key) else {
                let known = BrokerSetting.allCases.map(\.key).joined(separator: ", ")
                throw BrokerError(
                    .invalidConfiguration, "config file \(path) has an unknown key '\(key)'; known keys: \(known)")
            }
            if let text = value.text { settings.append((setting, text)) }
        }
        return settings
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context), DecodingError.typeMismatch(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}

/// A config-file value: a string, a whole number or a boolean written without quotes, or null
/// (no value).
private struct ConfigValue: Decodable {
    var text: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            text = nil
        } else if let number = try? container.decode(Int.self) {
            // Numbers before booleans: a decoder that bridges through NSNumber reads 1 as true.
            text = String(number)
        } else if let flag = try? container.decode(Bool.self) {
            text = flag ? "on" : "off"
        } else {
            text = try container.decode(String.self)
        }
    }
}
