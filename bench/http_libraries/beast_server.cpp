// Benchmark server on Boost.Beast (Debian libboost-dev 1.74, header-only); bench/http_libraries/run.sh
// builds and loads it. Same contract as httplib_server.cpp: GET /healthz -> small JSON; POST /echo ->
// the request body back, bodies over 64 MiB refused with 413. Shaped like Beast's
// http_server_async example: one io_context run by THREADS threads, one session object per
// connection, a 30 s deadline on every read and write (the example's value).
//   beast_server PORT [THREADS] [READ_BUFFER_KB]     (defaults 2, 0)
// READ_BUFFER_KB > 0 reserves the connection's read buffer up front. The example does not, and then
// Beast reads a body 512 bytes per recvmsg (read_size() asks for max(512, capacity - size)); run.sh
// measures both.
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

constexpr std::uint64_t kMaxBody = std::uint64_t(64) << 20;

http::response<http::string_body> make_response(const http::request<http::string_body>& req) {
  http::response<http::string_body> res;
  res.version(req.version());
  res.keep_alive(req.keep_alive());
  if (req.method() == http::verb::get && req.target() == "/healthz") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"status\":\"ok\"}";
  } else if (req.method() == http::verb::post && req.target() == "/echo") {
    res.result(http::status::ok);
    res.set(http::field::content_type, "application/octet-stream");
    res.body() = req.body();
  } else {
    res.result(http::status::not_found);
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"error\":\"not found\"}";
  }
  res.prepare_payload();
  return res;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::size_t read_buffer) : stream_(std::move(socket)) {
    if (read_buffer > 0) buffer_.reserve(read_buffer);
  }

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

 private:
  void do_read() {
    parser_.emplace();  // a fresh parser per request: the body limit is per message
    parser_->body_limit(kMaxBody);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) return send_error(http::status::payload_too_large);
    if (ec == http::error::header_limit) return send_error(http::status::request_header_fields_too_large);
    if (ec) return;  // timeout, reset, bad request: drop the connection as the example does
    send(make_response(parser_->get()));
  }

  // The library only reports the limit; the 413/431 reply is ours, and the connection closes after it
  // because the rest of the body was never read.
  void send_error(http::status status) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.body() = "{\"error\":\"request too large\"}";
    res.keep_alive(false);
    res.prepare_payload();
    send(std::move(res));
  }

  void send(http::response<http::string_body>&& res) {
    res_ = std::move(res);
    stream_.expires_after(std::chrono::seconds(30));
    http::async_write(stream_, res_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return;
    if (!res_.keep_alive()) return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, const tcp::endpoint& endpoint, std::size_t read_buffer)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), read_buffer_(read_buffer) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  void run() { do_accept(); }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket), read_buffer_)->run();
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::size_t read_buffer_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: beast_server PORT [THREADS]\n");
    return 2;
  }
  const auto port = static_cast<unsigned short>(std::atoi(argv[1]));
  const int threads = argc > 2 && std::atoi(argv[2]) > 0 ? std::atoi(argv[2]) : 2;
  const std::size_t read_buffer = argc > 3 ? std::size_t(std::atoi(argv[3])) << 10 : 0;

  net::io_context ioc{threads};
  try {
    std::make_shared<Listener>(ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), port}, read_buffer)->run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_server: cannot listen on 127.0.0.1:%d: %s\n", port, e.what());
    return 1;
  }
  // Graceful stop is ours to write; like the example, a signal just stops the io_context.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { ioc.stop(); });

  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}
