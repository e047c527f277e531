import SluiceBroker
import Testing

@Suite("SQL92 filters")
struct SQLFilterTests {
    static let properties: [(String, String)] = [
        ("a", "2"), ("price", "19.5"), ("region", "eu-west"), ("vip", "true"), ("name", "it's"), ("big", "9223372036854775807"),
    ]

    static func matches(_ expression: String, tag: String = "TagA", properties: [(String, String)] = properties) throws -> Bool {
        try SQLFilter(expression).matches(tag: tag, properties: properties)
    }

    @Test("comparisons convert string properties to numbers, as RocketMQ does", arguments: [
        ("a = 2", true), ("a <> 2", false), ("a != 3", true), ("a > 1", true), ("a >= 2", true), ("a < 2", false),
        ("a <= 2.0", true), ("price > 19", true), ("price < 19.6", true), ("1 < a", true), ("3 <= a", false),
        ("big = 9223372036854775807", true), ("big > 9223372036854775806", true), ("a > -5", true),
        ("region = 'eu-west'", true), ("region <> 'us'", true), ("name = 'it''s'", true),
        ("vip = TRUE", true), ("vip = false", false), ("region > 1", false),
    ])
    func comparisons(_ expression: String, _ expected: Bool) throws {
        #expect(try Self.matches(expression) == expected, "\(expression)")
    }

    @Test("BETWEEN, IN, IS NULL, CONTAINS/STARTSWITH/ENDSWITH and their NOT forms", arguments: [
        ("a BETWEEN 0 AND 3", true), ("a between 3 and 5", false), ("a NOT BETWEEN 3 AND 5", true),
        ("price BETWEEN 19.5 AND 20", true), ("region IN ('eu-west', 'us')", true), ("region NOT IN ('eu-west')", false),
        ("missing IS NULL", true), ("a IS NOT NULL", true), ("a IS NULL", false),
        ("region CONTAINS 'west'", true), ("region STARTSWITH 'eu'", true), ("region ENDSWITH 'east'", false),
        ("region NOT CONTAINS 'asia'", true),
    ])
    func predicates(_ expression: String, _ expected: Bool) throws {
        #expect(try Self.matches(expression) == expected, "\(expression)")
    }

    @Test("TAGS is the message tag; no tag is NULL")
    func tags() throws {
        #expect(try Self.matches("TAGS = 'TagA'"))
        #expect(try Self.matches("(TAGS is not null and TAGS in ('TagA', 'TagB')) and (a is not null and a between 0 and 3)"))
        #expect(try !Self.matches("TAGS IS NOT NULL", tag: ""))
        #expect(try Self.matches("TAGS IS NULL", tag: ""))
    }

    @Test("AND, OR, NOT with SQL's three-valued logic: a missing property is UNKNOWN, never a match")
    func logic() throws {
        #expect(try Self.matches("a = 2 AND region = 'eu-west'"))
        #expect(try Self.matches("a = 5 OR region = 'eu-west'"))
        #expect(try Self.matches("NOT a = 5"))
        #expect(try !Self.matches("missing = 1"))
        #expect(try !Self.matches("NOT missing = 1"), "NOT UNKNOWN is UNKNOWN")
        #expect(try Self.matches("missing = 1 OR a = 2"), "UNKNOWN OR TRUE is TRUE")
        #expect(try !Self.matches("missing = 1 AND a = 2"), "UNKNOWN AND TRUE is UNKNOWN")
        #expect(try Self.matches("a = 2 and not (region = 'us' or vip = false)"))
        #expect(try Self.matches("TRUE"))
        #expect(try !Self.matches("FALSE"))
        #expect(try !Self.matches("region = 1"), "a string that is no number is UNKNOWN against a number")
    }

    @Test("the broker's own properties cannot be filtered on")
    func reservedProperties() throws {
        #expect(try !Self.matches("SLUICE_TXN_ID IS NOT NULL", properties: [("SLUICE_TXN_ID", "x")]))
    }

    @Test("a parse error names what is wrong and where", arguments: [
        ("", "empty"), ("a >", "expected a string, number or boolean literal"), ("a > 'x'", "compares numbers only"),
        ("a = 1 AND", "expected a property name"), ("(a = 1", "expected ')'"), ("a BETWEEN 1 3", "expected AND"),
        ("a IN ()", "expected a string literal"), ("a = 'open", "not closed"), ("a = 99999999999999999999", "64-bit"),
        ("a # 1", "unexpected character '#'"), ("a IS 5", "expected NULL"), ("a = 1 b = 2", "expected AND, OR or the end"),
        ("a LIKE 'x'", "after property 'a'"), ("a = 1e", "malformed number"),
    ])
    func parseErrors(_ expression: String, _ fragment: String) {
        do {
            _ = try SQLFilter(expression)
            Issue.record("'\(expression)' parsed")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(fragment), "\(expression): \(error.message)")
            #expect(error.message.contains("position") || expression.isEmpty, "\(error.message)")
        }
    }

    @Test("hostile expressions are refused, not recursed into: deep nesting, huge input")
    func hostile() throws {
        let huge = String(repeating: "(", count: 100_000) + "a = 1" + String(repeating: ")", count: 100_000)
        #expect { try SQLFilter(huge) } throws: { ($0 as? BrokerError)?.message.contains("limit is 4096") == true }
        let deep = String(repeating: "(", count: 1000) + "a = 1" + String(repeating: ")", count: 1000)
        #expect { try SQLFilter(deep) } throws: { ($0 as? BrokerError)?.message.contains("nests deeper") == true }
        let nested = String(repeating: "NOT ", count: 900) + "a = 1"
        #expect { try SQLFilter(nested) } throws: { ($0 as? BrokerError)?.message.contains("nests deeper") == true }
        let fine = String(repeating: "(", count: 30) + "a = 2" + String(repeating: ")", count: 30)
        #expect(try Self.matches(fine))
        let wide = (0..<300).map { "a = \($0)" }.joined(separator: " OR ")
        #expect(try Self.matches(wide))
    }
}
