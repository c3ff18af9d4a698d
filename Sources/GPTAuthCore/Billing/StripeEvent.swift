#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The members of a Stripe event this product reads (Stripe's Event object, API versions from
/// 2024 on), read only after the signature matched (S38). Anything else in the event is ignored.
public struct StripeEvent: Decodable, Sendable, Equatable {
    public var id: String
    public var type: String
    public var created: Int64
    public var object: Object

    /// `data.object`: a Checkout Session, a Subscription or an Invoice, by `type`.
    public struct Object: Decodable, Sendable, Equatable {
        public var id: String?
        public var object: String?
        public var customer: String?
        public var status: String?
        // checkout.session
        public var clientReferenceID: String?
        public var mode: String?
        public var paymentStatus: String?
        public var subscription: String?
        public var customerEmail: String?
        // subscription: the first item's price
        public var priceID: String?
        // invoice (API 2025-03-31 on: parent.subscription_details.subscription)
        public var invoiceSubscription: String?

        enum Keys: String, CodingKey {
            case id, object, customer, status, mode, subscription, items, parent
            case clientReferenceID = "client_reference_id", paymentStatus = "payment_status", customerDetails = "customer_details"
        }
        struct CustomerDetails: Decodable { var email: String? }
        struct Items: Decodable { var data: [Item]? }
        struct Item: Decodable { var price: Price? }
        struct Price: Decodable { var id: String? }
        struct Parent: Decodable {
            var subscription_details: SubscriptionDetails?
            struct SubscriptionDetails: Decodable { var subscription: String? }
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            id = try? c.decodeIfPresent(String.self, forKey: .id)
            object = try? c.decodeIfPresent(String.self, forKey: .object)
            customer = try? c.decodeIfPresent(String.self, forKey: .customer)
            status = try? c.decodeIfPresent(String.self, forKey: .status)
            clientReferenceID = try? c.decodeIfPresent(String.self, forKey: .clientReferenceID)
            mode = try? c.decodeIfPresent(String.self, forKey: .mode)
            paymentStatus = try? c.decodeIfPresent(String.self, forKey: .paymentStatus)
            subscription = try? c.decodeIfPresent(String.self, forKey: .subscription)
            customerEmail = (try? c.decodeIfPresent(CustomerDetails.self, forKey: .customerDetails))??.email
            priceID = (try? c.decodeIfPresent(Items.self, forKey: .items))??.data?.first?.price?.id
            invoiceSubscription = subscription ?? (try? c.decodeIfPresent(Parent.self, forKey: .parent))??.subscription_details?.subscription
        }

        public init(id: String? = nil, object: String? = nil, customer: String? = nil, status: String? = nil) {
            self.id = id
            self.object = object
            self.customer = customer
            self.status = status
        }
    }

    enum Keys: String, CodingKey { case id, type, created, data }
    struct Envelope: Decodable { var object: Object }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        id = try c.decode(String.self, forKey: .id)
        type = try c.decode(String.self, forKey: .type)
        created = try c.decode(Int64.self, forKey: .created)
        object = try c.decode(Envelope.self, forKey: .data).object
    }

    public init(id: String, type: String, created: Int64, object: Object) {
        self.id = id
        self.type = type
        self.created = created
        self.object = object
    }

    /// The event read from verified bytes; nil when they are not an event this reader understands.
    public static func parse(_ body: [UInt8]) -> StripeEvent? {
        guard let event = try? JSONDecoder().decode(StripeEvent.self, from: Data(body)),
              Identifier.isSafe(event.id), event.id.hasPrefix("evt_") else { return nil }
        return event
    }

    /// The payment record the event is about: the subscription, or a one-time checkout session.
    public var paymentID: String? {
        switch type {
        case "checkout.session.completed", "checkout.session.async_payment_succeeded":
            return object.subscription ?? object.id
        case "customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted":
            return object.id
        case "invoice.paid", "invoice.payment_failed":
            return object.invoiceSubscription
        default:
            return nil
        }
    }
}
