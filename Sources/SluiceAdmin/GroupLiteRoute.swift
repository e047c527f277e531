import Foundation
import Hummingbird
import SluiceBroker

/// `GET /v1/groups/{name}/lite/{topic}` → 200 `{"group", "topic", "liteTopics": [...], "quota"}`:
/// the lite topics the group subscribes on a LITE parent topic (sorted; empty when none) and the
/// group's quota. 404 `GROUP_NOT_FOUND`, 404 `TOPIC_NOT_FOUND`, 400 `INVALID_ARGUMENT` when the
/// topic is not of type `lite`.
enum GroupLiteRoute {
    struct LiteBody: Encodable {
        var group: String
        var topic: String
        var liteTopics: [String]
        var quota: Int
    }

    static func add(to router: Router<some RequestContext>, readiness: Readiness, handle: BrokerHandle) {
        router.get("v1/groups/:name/lite/:topic") { _, context in
            let engine = try GroupRoutes.engine(readiness, handle)
            let registry = try TopicRoutes.registry(readiness, handle)
            guard let lite = handle.lite else {
                throw AdminAPIError(.serviceUnavailable, code: "NOT_READY", message: "lite subscriptions are not open")
            }
            let name = decoded(context.parameters.get("name"))
            let topicName = decoded(context.parameters.get("topic"))
            guard engine.group(named: name) != nil else {
                throw AdminAPIError(.notFound, code: "GROUP_NOT_FOUND", message: "consumer group '\(name)' does not exist")
            }
            let topic: TopicDefinition?
            do throws(BrokerError) {
                topic = try await registry.topic(named: topicName)
            } catch {
                throw TopicRoutes.apiError(error)
            }
            guard let topic else {
                throw AdminAPIError(.notFound, code: "TOPIC_NOT_FOUND", message: "topic '\(topicName)' does not exist")
            }
            guard topic.messageType == .lite else {
                throw AdminAPIError(
                    .badRequest, code: "INVALID_ARGUMENT",
                    message: "topic '\(topicName)' takes \(topic.messageType.rawValue) messages; lite subscriptions exist only on lite topics")
            }
            let body = LiteBody(
                group: name, topic: topicName, liteTopics: lite.liteTopics(group: name, topic: topicName).sorted(),
                quota: lite.quotaPerGroup)
            return JSONResponse.make(status: .ok, body)
        }
    }

    private static func decoded(_ raw: String?) -> String {
        guard let raw else { return "" }
        return raw.removingPercentEncoding ?? raw
    }
}
