import Foundation

/// The values Sluice keeps in etcd are small JSON documents with sorted keys, so `etcdctl get`
/// shows something an operator can read.
enum StoredJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // These are plain structs of strings and numbers: encoding cannot fail.
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }

    /// - Throws: `.malformedValue` naming the key.
    static func decode<T: Decodable>(_ type: T.Type, from keyValue: EtcdKeyValue) throws(EtcdError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(keyValue.value))
        } catch {
            throw EtcdError(.malformedValue, "\(keyValue.key) does not hold a \(type)", cause: error)
        }
    }
}
