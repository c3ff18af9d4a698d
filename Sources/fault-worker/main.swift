// A FastCGI worker that answers a path ending in `/ok` and crashes on any other request with a Swift runtime trap
// (an index out of range), as a bug in an endpoint would. For the supervision tests only: it is
// not installed. It runs the endpoints' serve loop and worker roster.
import GPTAuthCore
#if canImport(Glibc)
import Glibc
#endif

let logFolder = getenv("GPTAUTH_LOG").map { String(cString: $0) }
FastCGIServer.serve({ request in
    let answers = [Array("ok\n".utf8)]
    let index = request.path.hasSuffix("/ok") ? 0 : answers.count
    return Response(status: 200, headers: [("Content-Type", "text/plain")], body: answers[index])
}, pool: logFolder.map { WorkerRoster(component: "fault-worker", logFolder: $0) })
