/// The OpenAPI schema a builder pastes into the GPT editor (Configure → Actions → Schema) for an
/// action that calls an API behind GPTAuth: the server from the issuer, and the OAuth security
/// scheme with this installation's URLs and scope — the part builders most often get wrong. The
/// path is the sample API's (`/api/greeting`), to be replaced by the builder's own.
public enum ActionSchema {
    public static func openAPI(for client: Client, configuration: Configuration) -> String {
        let server = RedirectURIPolicy.origin(of: configuration.baseURL) ?? configuration.baseURL
        return """
        openapi: 3.1.0
        info:
          title: \(quoted(client.name + " API"))
          version: "1.0.0"
        servers:
          - url: \(quoted(server))
        paths:
          /api/greeting:
            get:
              operationId: getGreeting
              summary: Greets the signed-in user (replace with your API's paths)
              security:
                - gptauth: [email]
              responses:
                "200":
                  description: The greeting, with the user's calls today
                  content:
                    application/json:
                      schema:
                        type: object
                        properties:
                          message: {type: string}
                          email: {type: string}
                          calls_today: {type: integer}
                          remaining_today: {type: [integer, "null"]}
                "401": {description: Not signed in, or the sign-in has ended}
                "402": {description: "The plan's limit is reached (the message says where to upgrade)"}
                "403": {description: The GPT's owner blocked this user}
                "429": {description: "The plan's limit is reached"}
        components:
          schemas: {}
          securitySchemes:
            gptauth:
              type: oauth2
              flows:
                authorizationCode:
                  authorizationUrl: \(quoted(configuration.authorizationURL))
                  tokenUrl: \(quoted(configuration.tokenURL))
                  scopes:
                    email: Your email address
        """
    }

    /// A YAML double-quoted scalar (JSON's string syntax is YAML's).
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f { out += "\\u00" + (scalar.value < 16 ? "0" : "") + String(scalar.value, radix: 16) }
                else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
