import SluiceWire
import Testing

@testable import SluiceProtocol

@Suite("GroupLeaderAddress: the leader routes name")
struct GroupLeaderAddressTests {
    @Test("registered addresses parse; anything else forgets the leader")
    func parsing() {
        let leader = GroupLeaderAddress()
        #expect(leader.endpoint == nil)
        leader.update(grpcAddress: "10.0.0.7:8081")
        #expect(leader.endpoint == .init(host: "10.0.0.7", port: 8081))
        leader.update(grpcAddress: "[fe80::1]:9000")
        #expect(leader.endpoint == .init(host: "fe80::1", port: 9000))
        leader.update(grpcAddress: "broker-2.example.net:8081")
        #expect(leader.endpoint == .init(host: "broker-2.example.net", port: 8081))
        for bad in ["", "host", "host:", ":8081", "host:0", "host:65536", "host:-1", "host:99999999999999999999"] {
            leader.update(grpcAddress: "10.0.0.7:8081")
            leader.update(grpcAddress: bad)
            #expect(leader.endpoint == nil, "\(bad)")
        }
        leader.update(grpcAddress: "10.0.0.7:8081")
        leader.update(grpcAddress: nil)
        #expect(leader.endpoint == nil)
    }

    @Test("the route's address scheme follows the host: IPv4, IPv6 or a domain name")
    func schemes() {
        #expect(MessagingService.endpoints(of: .init(host: "127.0.0.1", port: 1)).scheme == .ipv4)
        #expect(MessagingService.endpoints(of: .init(host: "::1", port: 1)).scheme == .ipv6)
        #expect(MessagingService.endpoints(of: .init(host: "broker-1", port: 1)).scheme == .domainName)
        #expect(MessagingService.endpoints(of: .init(host: "1.2.3", port: 1)).scheme == .domainName)
        let endpoints = MessagingService.endpoints(of: .init(host: "10.1.2.3", port: 8081))
        #expect(endpoints.addresses.map { "\($0.host):\($0.port)" } == ["10.1.2.3:8081"])
    }
}
