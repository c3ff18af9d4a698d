import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A third private nginx on 127.0.0.1 balancing round-robin over several nodes' nginx, as a load
/// balancer in front of a multi-node installation would (its own config, pid and temp paths).
final class Balancer {
    let port: UInt16
    let folder: URL
    private var pid: pid_t = 0

    init(over ports: [UInt16]) throws {
        port = try Stack.freePort()
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("gptauth-balancer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("logs"), withIntermediateDirectories: true)
        let path = folder.path
        try """
        daemon off;
        master_process on;
        worker_processes 1;
        pid \(path)/nginx.pid;
        error_log \(path)/logs/error.log warn;
        events { worker_connections 256; }
        http {
            access_log off;
            client_body_temp_path \(path)/body;
            proxy_temp_path \(path)/proxy;
            fastcgi_temp_path \(path)/fastcgi;
            uwsgi_temp_path \(path)/uwsgi;
            scgi_temp_path \(path)/scgi;
            upstream nodes {
        \(ports.map { "        server 127.0.0.1:\($0) max_fails=0;" }.joined(separator: "\n"))
                keepalive 16;
            }
            server {
                listen 127.0.0.1:\(port);
                location / {
                    proxy_pass http://nodes;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header Host $http_host;
                    proxy_set_header X-Forwarded-For $remote_addr;
                }
            }
        }
        """.write(to: folder.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, path + "/logs/stderr.log", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        pid = try Subprocess.spawn("nginx", ["-c", path + "/nginx.conf", "-p", path + "/", "-e", path + "/logs/error.log"],
                                   environment: [:], actions: &actions)
        for _ in 0..<100 {
            if (try? HTTPClient(port: port).get("/.well-known/oauth-authorization-server")) != nil { return }
            usleep(50_000)
        }
        stop()
        throw HTTPClientError("the balancer did not start; see \(path)/logs")
    }

    var http: HTTPClient { HTTPClient(port: port) }

    /// Stops the nginx this started, by its PID.
    func stop() {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        pid = 0
        try? FileManager.default.removeItem(at: folder)
    }
}
