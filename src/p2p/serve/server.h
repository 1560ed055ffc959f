// `p2p serve`: the HTTP face of a ModelService (service.h), on cpp-httplib.
//   POST /v1/translate   an image (raw body or multipart field "image") -> the translated image
//   GET  /v1/model       what the model is (architecture, channels, size multiple, input mapping, palette)
//   GET  /healthz        liveness, never behind the token
//   GET  /metrics        Prometheus text (metrics.h)
//   GET  /               the drawing page (page.h)
// Limits answer with a status and a JSON {"error": ...} naming the limit: 413 past --max_body_mb, 503 with
// Retry-After past --max_queue admitted requests or while stopping, 504 past --timeout_s, 401 without the
// token. SIGTERM/SIGINT stop accepting, finish every admitted request, and return.
#pragma once

#include "p2p/serve/service.h"

#include <ostream>
#include <string>

namespace p2p::serve {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0: any free port (printed on the start line)
  std::string token;           // empty: no token asked
  double max_body_mb = 64;     // MiB
  int max_queue = 16;          // translate requests admitted at once (waiting or running)
  int batch_wait_ms = -1;      // -1: 0 on the CPU, 5 on a GPU (BENCHMARKS.md "Serving")
  int max_batch = 8;
  double timeout_s = 30;       // from admission to reply
};

// From now on SIGTERM and SIGINT ask run_server to stop (gracefully) instead of ending the process.
// run_server installs them too; call it earlier so a signal during model loading is not lost.
void install_stop_handlers();

// Serves until SIGTERM/SIGINT; prints "listening on http://HOST:PORT/" to `out` once the port is bound,
// and one line per stop to `log`. Throws p2p::Error when the address cannot be bound (naming --host and
// --port). Returns when every admitted request has been answered.
void run_server(ModelService& service, ServeMetrics& metrics, const ServeOptions& options, std::ostream& out,
                std::ostream& log);

}  // namespace p2p::serve
