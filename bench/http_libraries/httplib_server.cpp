// Benchmark server on Debian's cpp-httplib 0.11.4 (bench/http_libraries/run.sh builds and loads it).
// Same contract as beast_server.cpp: GET /healthz -> small JSON; POST /echo -> the request body back,
// bodies over 64 MiB refused with 413. Written as the library's README shows. From the command line:
// the worker count, so both servers run the same thread count, and TCP_NODELAY. Without it (the
// library's default) a small reply's headers and body go out in two send() calls, and Nagle plus the
// client's delayed ACK hold the second one back about 40 ms; run.sh measures both.
//   httplib_server PORT [THREADS] [NODELAY]     (THREADS 0 or absent: the library's default pool;
//                                               NODELAY 1: set_tcp_nodelay(true))
#include <httplib.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {
httplib::Server* g_server = nullptr;
void on_signal(int) {
  if (g_server) g_server->stop();  // stop() only flips an atomic and shuts the listening socket
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: httplib_server PORT [THREADS]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int threads = argc > 2 ? std::atoi(argv[2]) : 0;
  const bool nodelay = argc > 3 && std::atoi(argv[3]) != 0;

  httplib::Server svr;
  if (threads > 0) svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_tcp_nodelay(nodelay);
  svr.set_payload_max_length(size_t(64) << 20);  // the library answers 413 itself

  svr.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{\"status\":\"ok\"}", "application/json");
  });
  svr.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "application/octet-stream");
  });

  g_server = &svr;
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  if (!svr.listen("127.0.0.1", port)) {
    std::fprintf(stderr, "httplib_server: cannot listen on 127.0.0.1:%d\n", port);
    return 1;
  }
  return 0;
}
