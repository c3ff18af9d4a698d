#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The product's JSON coding: stable key order (records diff cleanly, tests compare bytes).
public enum JSON {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if let flat = value as? FlatJSONEncodable {
            var writer = FlatJSONWriter()
            flat.write(to: &writer)
            return writer.finish()
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    public static func encodePretty<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let flatType = type as? FlatJSONDecodable.Type, let object = FlatJSONObject(bytes),
           let value = flatType.init(flat: object) as? T {
            return value
        }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }
}
