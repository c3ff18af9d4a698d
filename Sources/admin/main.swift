// /admin/… — the builder's console: GPTs, users, usage, plans and the email list in the browser.
import GPTAuthCore

Service.run { AdminEndpoint(service: $0) }
