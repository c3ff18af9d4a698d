/// Every size the product accepts from outside (S31). Over a bound → 400/413 with a clear message.
public enum Limits {
    /// A request body (form or JSON). The token endpoint needs well under 4 KiB.
    public static let body = 64 * 1024
    /// The query string of a GET.
    public static let queryString = 16 * 1024
    /// One parameter value. ChatGPT's `state` is a UUID; we keep "a few KB" as the notes advise.
    public static let parameterValue = 4096
    /// How many parameters one query string or body may carry.
    public static let parameterCount = 64
    /// One header value we read (Authorization, Cookie).
    public static let headerValue = 8192
    /// How many cookies we read from one Cookie header.
    public static let cookieCount = 50
}
