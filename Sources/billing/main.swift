// GET /billing/upgrade and POST /billing/stripe/webhook — payments through Stripe.
import GPTAuthCore

Service.run { BillingEndpoint(service: $0) }
