// The HTTP layer of `p2p serve` (server.h): routes, the token, admission, error bodies, metrics, stop.
#include "p2p/serve/server.h"

#include "p2p/core/error.h"
#include "p2p/serve/page.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <sstream>
#include <thread>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef P2P_HAVE_HTTPLIB
#include <httplib.h>
#endif

namespace p2p::serve {

namespace {

// SIGTERM/SIGINT write their number here; the server's stopper thread reads it. A handler (not sigwait)
// because LibTorch and OpenBLAS start threads before main, any of which may receive the signal.
int stop_pipe[2] = {-1, -1};

void on_serve_stop_signal(int sig) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(sig);
  if (stop_pipe[1] >= 0) (void)!::write(stop_pipe[1], &b, 1);
  errno = saved;
}

}  // namespace

// Ends the stopper thread of a server that stops for another reason than a signal.
static void wake_stopper_to_quit() {
  const unsigned char zero = 0;
  (void)!::write(stop_pipe[1], &zero, 1);
}

void install_stop_handlers() {
  if (stop_pipe[0] < 0 && ::pipe2(stop_pipe, O_CLOEXEC) != 0) fail(std::string("serve: pipe: ") + std::strerror(errno));
  struct sigaction sa {};
  sa.sa_handler = on_serve_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

#ifndef P2P_HAVE_HTTPLIB

void run_server(ModelService&, ServeMetrics&, const ServeOptions&, std::ostream&, std::ostream&) {
  fail("p2p serve: this build has no HTTP server (it was built without cpp-httplib: install Debian's "
       "libcpp-httplib-dev and rebuild)");
}

#else

namespace {

std::string json_error(const std::string& message) { return nlohmann::json{{"error", message}}.dump() + "\n"; }

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json_error(message), "application/json");
}

// "64", "0.1": a flag's value as the user would type it.
std::string flag_number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// The first line of an exception's text (LibTorch's errors append a backtrace).
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Equal strings in time that does not depend on where they differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

std::string endpoint_of(const std::string& path) {
  if (path == "/v1/translate") return "translate";
  if (path == "/v1/model") return "model";
  if (path == "/healthz") return "healthz";
  if (path == "/metrics") return "metrics";
  if (path == "/" || path == "/index.html") return "page";
  return "other";
}

std::string hex_start(const std::string& bytes) {
  std::ostringstream o;
  const size_t n = std::min<size_t>(bytes.size(), 8);
  for (size_t i = 0; i < n; ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%02x", static_cast<unsigned char>(bytes[i]));
    o << (i ? " " : "") << b;
  }
  return o.str();
}

// Counts a translate request as admitted for as long as it lives; one past `limit` is not counted.
class Admission {
 public:
  Admission(std::atomic<int64_t>& depth, int64_t limit) : depth_(depth) {
    int64_t now = depth_.load();
    while (now < limit && !depth_.compare_exchange_weak(now, now + 1)) {
    }
    admitted_ = now < limit;
  }
  ~Admission() {
    if (admitted_) --depth_;
  }
  bool admitted() const { return admitted_; }

 private:
  std::atomic<int64_t>& depth_;
  bool admitted_ = false;
};

}  // namespace

void run_server(ModelService& service, ServeMetrics& metrics, const ServeOptions& o, std::ostream& out, std::ostream& log) {
  httplib::Server server;
  std::atomic<bool> draining{false};
  // A connection holds a thread for its life: enough threads that clients past --max_queue reach the
  // handler and get their 503 at once.
  const size_t threads = static_cast<size_t>(std::max(32, 2 * o.max_queue + 8));
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const size_t max_body = static_cast<size_t>(o.max_body_mb * 1024.0 * 1024.0);
  server.set_payload_max_length(max_body);
  server.set_read_timeout(10);
  server.set_write_timeout(10);
  server.set_keep_alive_timeout(5);
  server.set_keep_alive_max_count(1000);
  server.set_tcp_nodelay(true);  // small replies otherwise wait ~40 ms on Nagle's algorithm
  // The listening socket: SO_REUSEADDR only (the library's default also sets SO_REUSEPORT, which would let
  // a second server bind the same port and silently take half the requests), and remembered so the
  // backlog can be raised after binding: the library's is 5, and a burst of new connections past it is
  // stalled a second or reset.
  std::atomic<int> listen_fd{-1};
  server.set_socket_options([&listen_fd](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = sock;
  });

  // Every endpoint but /healthz: `Authorization: Bearer <token>`; the page also takes ?token= (a browser
  // opening a link cannot send the header; the page then sends it on its own calls).
  const auto authorized = [&o](const httplib::Request& req, httplib::Response& res, bool query_ok) {
    if (o.token.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    // The scheme name is case-insensitive (RFC 7235).
    const bool bearer = header.size() > 7 && strncasecmp(header.c_str(), "Bearer ", 7) == 0;
    bool ok = bearer && same_secret(header.substr(7), o.token);
    if (!ok && query_ok && req.has_param("token")) ok = same_secret(req.get_param_value("token"), o.token);
    if (ok) return true;
    res.set_header("WWW-Authenticate", "Bearer");
    reply_error(res, 401, header.empty() ? "this server needs a token: send 'Authorization: Bearer <token>'"
                          : bearer       ? "wrong token in the Authorization header"
                                         : "the Authorization header is not 'Bearer <token>'");
    return false;
  };
  const auto model_of = [&service](const httplib::Request& req, httplib::Response& res) -> const ServedModel* {
    const std::string name = req.has_param("model") ? req.get_param_value("model") : "";
    const ServedModel* m = service.find(name);
    if (!m) {
      std::string known;
      for (const auto& n : service.names()) known += (known.empty() ? "" : ", ") + n;
      reply_error(res, 404, "no model named '" + name + "' (this server has: " + known + ")");
    }
    return m;
  };

  server.Get("/healthz", [&](const httplib::Request&, httplib::Response& res) {
    if (draining) {
      res.status = 503;
      res.set_content(R"({"status":"draining"})" "\n", "application/json");
      return;
    }
    res.set_content(R"({"status":"ok"})" "\n", "application/json");  // model names only behind the token
  });
  server.Get("/v1/model", [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res, false)) return;
    const ServedModel* m = model_of(req, res);
    if (!m) return;
    nlohmann::json j = service.info(*m);
    j["max_body_mb"] = o.max_body_mb;
    res.set_content(j.dump(2) + "\n", "application/json");
  });
  server.Get("/metrics", [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res, false)) return;
    res.set_content(metrics.text(), "text/plain; version=0.0.4");
  });
  const auto page = [&](const httplib::Request& req, httplib::Response& res) {
    if (!authorized(req, res, true)) return;
    res.set_header("Cache-Control", "no-store");
    // Nothing of the page may come from elsewhere.
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; "
                   "script-src 'unsafe-inline'; connect-src 'self'");
    const std::string_view html = page_html();
    res.set_content(std::string(html), "text/html; charset=utf-8");
  };
  server.Get("/", page);
  server.Get("/index.html", page);

  server.Post("/v1/translate", [&](const httplib::Request& req, httplib::Response& res) {
    const auto start = Clock::now();
    if (!authorized(req, res, false)) return;
    if (draining) {
      res.set_header("Retry-After", "5");
      reply_error(res, 503, "the server is shutting down");
      return;
    }
    const ServedModel* m = model_of(req, res);
    if (!m) return;
    // The image: a multipart field "image", or the body itself.
    std::string name = "image";
    const std::string* bytes = &req.body;
    ImageKind declared = ImageKind::unknown;
    httplib::MultipartFormData file;
    const std::string content_type = req.get_header_value("Content-Type");
    if (req.is_multipart_form_data()) {
      if (!req.has_file("image")) {
        reply_error(res, 400, "multipart upload without a field named \"image\" (send the image file as image=@FILE)");
        return;
      }
      file = req.get_file_value("image");
      bytes = &file.content;
      if (!file.filename.empty()) name = file.filename;
      declared = kind_of_content_type(file.content_type);
    } else {
      declared = kind_of_content_type(content_type);
      std::string base = content_type.substr(0, content_type.find(';'));
      if (declared == ImageKind::unknown && !content_type.empty() && base != "application/octet-stream") {
        reply_error(res, 415, "Content-Type '" + content_type + "' is not an image: send image/png, image/jpeg, "
                    "image/tiff or application/octet-stream, or multipart/form-data with the file in field \"image\"");
        return;
      }
    }
    // The library enforces the limit on bodies of declared length; a chunked one (raw or multipart) is
    // checked here, once read.
    size_t received = req.body.size();
    for (const auto& f : req.files) received += f.second.content.size();
    if (received > max_body) {
      reply_error(res, 413, "request body larger than --max_body_mb " + flag_number(o.max_body_mb) + " MiB");
      return;
    }
    if (bytes->empty()) {
      reply_error(res, 400, "empty body: send the image's bytes (or multipart/form-data with field \"image\")");
      return;
    }
    const ImageKind kind = sniff_image(*bytes);
    if (kind == ImageKind::unknown) {
      reply_error(res, 400, "the body is not a PNG, JPEG or TIFF image (it starts with bytes " + hex_start(*bytes) + ")");
      return;
    }
    if (declared != ImageKind::unknown && declared != kind) {
      reply_error(res, 400, std::string("the body is a ") + image_kind_name(kind) + " image but its Content-Type says " +
                                image_kind_name(declared));
      return;
    }
    if (name == "image") name = std::string("image") + (kind == ImageKind::png ? ".png" : kind == ImageKind::jpeg ? ".jpg" : ".tif");
    Admission admission(metrics.queue_depth, o.max_queue);
    if (!admission.admitted()) {
      res.set_header("Retry-After", "1");
      reply_error(res, 503, "busy: " + std::to_string(o.max_queue) + " requests are already queued (--max_queue); retry later");
      return;
    }
    const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
    try {
      TranslateResult r = service.translate(*m, *bytes, kind, name, deadline);
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      metrics.observe_latency(seconds);
      res.set_header("X-P2P-Model", m->name);
      res.set_header("X-P2P-Milliseconds", std::to_string(static_cast<int64_t>(seconds * 1000.0 + 0.5)));
      res.set_content(std::move(r.body), r.content_type);
    } catch (const Timeout&) {
      reply_error(res, 504, "not translated within --timeout_s " + flag_number(o.timeout_s) + " s; dropped");
    } catch (const Error& e) {
      reply_error(res, 400, e.what());
    } catch (const std::exception& e) {  // not the request's fault: the operator's log gets it
      log << "p2p serve: internal error translating " << name << ": " << first_line(e.what()) << std::endl;
      reply_error(res, 500, "internal error (see the server's log)");
    }
  });

  server.set_exception_handler([&log](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      log << "p2p serve: internal error on " << req.method << " " << req.path << ": " << first_line(e.what()) << std::endl;
    } catch (...) {
    }
    reply_error(res, 500, "internal error (see the server's log)");
  });
  // Statuses the library answers itself (no route, body too large, unreadable request) get a JSON body too.
  server.set_error_handler([&o](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message;
    switch (res.status) {
      case 404: message = "no such endpoint: " + req.method + " " + req.path +
                          " (POST /v1/translate, GET /v1/model, GET /healthz, GET /metrics, GET /)"; break;
      case 413:
        // The library caps form bodies (curl --data-binary without a Content-Type sends one) at 8 KiB.
        if (req.get_header_value("Content-Type").rfind("application/x-www-form-urlencoded", 0) == 0) {
          res.status = 415;
          message = "Content-Type 'application/x-www-form-urlencoded' is not an image: send image/png, image/jpeg, "
                    "image/tiff or application/octet-stream (curl: -H 'Content-Type: image/png' --data-binary @FILE), or "
                    "multipart/form-data with the file in field \"image\"";
        } else {
          message = "request body larger than --max_body_mb " + flag_number(o.max_body_mb) + " MiB";
        }
        break;
      case 405: message = req.method + " is not allowed on " + req.path; break;
      default: message = "bad request (" + std::to_string(res.status) + ")"; break;
    }
    res.set_content(json_error(message), "application/json");
  });
  server.set_logger([&metrics](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(endpoint_of(req.path), outcome_of(res.status));
  });

  const int port = o.port == 0 ? server.bind_to_any_port(o.host) : (server.bind_to_port(o.host, o.port) ? o.port : -1);
  if (port < 0) {
    fail("--host " + o.host + " --port " + std::to_string(o.port) + ": cannot listen there (in use, or not an "
         "address of this machine)");
  }
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);  // Linux takes a second listen() as a new backlog
  // SIGTERM / SIGINT (install_stop_handlers) arrive here; byte 0 means run_server is returning.
  install_stop_handlers();
  std::atomic<bool> listening_over{false};
  std::thread stopper([&] {
    unsigned char sig = 0;
    while (::read(stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;
    draining = true;
    // A signal that came while models loaded waits until the server runs (stop() does nothing before).
    while (!server.is_running() && !listening_over) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    log << "p2p serve: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ": not accepting; finishing "
        << metrics.queue_depth.load() << " admitted requests\n";
    log.flush();
    server.stop();
  });
  const bool ipv6 = o.host.find(':') != std::string::npos;
  out << "listening on http://" << (ipv6 ? "[" + o.host + "]" : o.host) << ":" << port << "/ (models: ";
  for (const auto& n : service.names()) out << n << (n == service.names().back() ? "" : ", ");
  out << "; POST /v1/translate, GET /v1/model, GET /healthz, GET /metrics, GET / )" << std::endl;
  bool listened = false;
  try {
    listened = server.listen_after_bind();
  } catch (...) {
    listening_over = true;
    wake_stopper_to_quit();
    stopper.join();
    throw;
  }
  listening_over = true;
  if (!draining) wake_stopper_to_quit();
  stopper.join();
  if (!listened && !draining) fail("p2p serve: the server stopped accepting connections (--host " + o.host + " --port " +
                                   std::to_string(port) + ")");
  log << "p2p serve: stopped\n";
}

#endif

}  // namespace p2p::serve
