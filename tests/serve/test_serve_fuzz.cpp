// Hostile and broken requests over raw sockets: truncated bodies, bad lengths, garbage, huge headers,
// bad chunking, broken multipart, slow senders, random bytes. The server answers each with an error or
// closes that connection, and then still answers a good request with the right image.
#include "serve/serve_process.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

using namespace p2p::test;

namespace {

// Sends `parts` on one connection (pausing `pause_ms` between them) and returns what the server sent back
// before closing or `limit_s` passed. `hang_up`: the client half-closes after sending (a client that
// disconnects mid-request; the server then owes no reply).
std::string exchange(int port, const std::vector<std::string>& parts, bool hang_up = false, int pause_ms = 0,
                     int limit_s = 15) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "<connect failed>";
  }
  timeval tv{limit_s, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i && pause_ms) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    if (::send(fd, parts[i].data(), parts[i].size(), MSG_NOSIGNAL) < 0) break;
  }
  if (hang_up) ::shutdown(fd, SHUT_WR);
  std::string got;
  char buf[65536];
  // Until the server closes, or one whole response (headers and Content-Length body) has arrived: a
  // server may keep the connection open for the next request.
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
    const size_t end = got.find("\r\n\r\n");
    const size_t cl = got.find("Content-Length: ");
    if (end != std::string::npos && cl != std::string::npos && cl < end &&
        got.size() >= end + 4 + std::stoul(got.substr(cl + 16))) {
      break;
    }
  }
  ::close(fd);
  return got;
}

int status_of(const std::string& reply) {
  if (reply.rfind("HTTP/1.1 ", 0) != 0 || reply.size() < 12) return 0;
  return std::stoi(reply.substr(9, 3));
}

std::string post(const std::string& headers, const std::string& body) {
  return "POST /v1/translate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + "\r\n" + body;
}

}  // namespace

TEST(ServeFuzz, BrokenRequestsGetErrorsAndTheServerKeepsAnswering) {
  const std::string dir = scratch_dir("serve_fuzz");
  write_random_png(dir + "/ok.png", 32, 32, 3, 4);
  const std::string png = read_file(dir + "/ok.png");
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client good("127.0.0.1", server.port());
  good.set_read_timeout(60);
  const auto expected = good.Post("/v1/translate", png, "image/png");
  ASSERT_TRUE(expected);
  ASSERT_EQ(expected->status, 200);
  const std::string expected_body = expected->body;
  const auto still_good = [&](const std::string& after) {
    httplib::Client c("127.0.0.1", server.port());
    c.set_read_timeout(60);
    auto r = c.Post("/v1/translate", png, "image/png");
    ASSERT_TRUE(r) << "no answer after: " << after;
    EXPECT_EQ(r->status, 200) << after;
    EXPECT_TRUE(r->body == expected_body) << "a different reply after: " << after;
  };
  const int port = server.port();
  const std::string length = "Content-Length: " + std::to_string(png.size()) + "\r\n";

  struct Case {
    std::string name;
    std::vector<std::string> parts;
    std::vector<int> statuses;  // acceptable; 0 = the connection closed without a reply
    bool hang_up = false;       // the request is cut short and the client disconnects
  };
  const std::vector<Case> cases = {
      {"body shorter than Content-Length", {post("Content-Type: image/png\r\n" + length, png.substr(0, 100))}, {400, 0}, true},
      {"no Content-Type (sniffed)", {post(length, png)}, {200}},
      {"Content-Length not a number", {post("Content-Type: image/png\r\nContent-Length: abc\r\n", png)}, {400, 0}},
      {"negative Content-Length", {post("Content-Type: image/png\r\nContent-Length: -5\r\n", png)}, {400, 413, 0}, true},
      {"huge Content-Length, no body", {post("Content-Type: image/png\r\nContent-Length: 99999999999999\r\n", "")}, {413, 400, 0}, true},
      {"garbage request line", {std::string("\x01\x02GARBAGE \xff\r\n\r\n", 15)}, {400, 0}},
      {"no request line at all", {"\r\n\r\n"}, {400, 0}},
      {"header of 20 KB", {post("Content-Type: image/png\r\nX-Junk: " + std::string(20000, 'a') + "\r\n" + length, png)}, {400, 431, 0}},
      {"5000 headers", {post([] { std::string h; for (int i = 0; i < 5000; ++i) h += "X-" + std::to_string(i) + ": y\r\n"; return h; }() + length, png)}, {200, 400, 431, 0}},
      {"URI of 20 KB", {"GET /" + std::string(20000, 'b') + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, {414, 400, 0}},
      {"bad chunk size", {post("Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n", "zz\r\nabc\r\n0\r\n\r\n")}, {400, 0}},
      {"chunked, truncated", {post("Content-Type: image/png\r\nTransfer-Encoding: chunked\r\n", "1000\r\nabc")}, {400, 0}, true},
      {"multipart without its closing boundary",
       {post("Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 60\r\n",
             "--XyZ\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabcdefgh")}, {400, 0}, true},
      {"multipart without a boundary",
       {post("Content-Type: multipart/form-data\r\nContent-Length: 10\r\n", "0123456789")}, {400, 0}},
      {"HTTP/1.0 without Host", {"POST /v1/translate HTTP/1.0\r\nContent-Type: image/png\r\n" + length + "\r\n" + png}, {200}},
      {"wrong method on translate", {"DELETE /v1/translate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"}, {404, 405, 400}},
      {"PNG header on random bytes",
       {post("Content-Type: image/png\r\nContent-Length: 4008\r\n", png.substr(0, 8) + std::string(4000, '\x7f'))}, {400}},
  };
  for (const auto& k : cases) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string reply = exchange(port, k.parts, k.hang_up);
    const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(took, 12.0) << k.name << ": the server held the connection " << took << " s";
    if (took > 2) std::cerr << k.name << ": " << took << " s\n";
    const int status = status_of(reply);
    bool acceptable = false;
    for (int s : k.statuses) acceptable |= s == status;
    EXPECT_TRUE(acceptable) << k.name << ": status " << status << "\n" << reply.substr(0, 300);
    if (status >= 400) {
      EXPECT_NE(reply.find("{\"error\":"), std::string::npos) << k.name << ": no message\n" << reply.substr(0, 300);
    }
    still_good(k.name);
  }

  // A slow sender within the read timeout: the body in 8 pieces over ~1.6 s.
  std::vector<std::string> slow = {"POST /v1/translate HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n" + length +
                                   "Connection: close\r\n\r\n"};
  const size_t piece = png.size() / 8 + 1;
  for (size_t at = 0; at < png.size(); at += piece) slow.push_back(png.substr(at, piece));
  const std::string slow_reply = exchange(port, slow, false, 200);
  EXPECT_EQ(status_of(slow_reply), 200) << slow_reply.substr(0, 300);
  EXPECT_NE(slow_reply.find(expected_body), std::string::npos) << "the slow sender's reply is not its image";

  // Random bytes from a fixed seed, some after a valid start.
  std::mt19937 rng(2026);
  for (int i = 0; i < 12; ++i) {
    std::string junk(static_cast<size_t>(rng() % 3000), '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng() & 0xff);
    const std::string request = i % 2 ? post("Content-Type: image/png\r\nContent-Length: " + std::to_string(junk.size()) + "\r\n", junk) : junk;
    const int status = status_of(exchange(port, {request}, /*hang_up=*/true));
    EXPECT_TRUE(status == 0 || (status >= 400 && status < 500)) << "random case " << i << ": status " << status;
  }
  still_good("random bytes");
  ASSERT_EQ(::kill(server.pid(), 0), 0) << "the server died";
  EXPECT_EQ(server.stop(), 0) << server.output();
}

TEST(ServeFuzz, FullQueueAnswers503AndAnOverlongRequestAnswers504) {
  const std::string dir = scratch_dir("serve_limits");
  write_random_png(dir + "/ok.png", 32, 32, 3, 4);
  write_random_png(dir + "/large.png", 1536, 1536, 3, 5);
  const std::string png = read_file(dir + "/ok.png");
  {
    // One admitted request waits 1.5 s for companions; the next, meanwhile, finds the queue full.
    ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --max_queue 1 --batch_wait_ms 1500");
    ASSERT_TRUE(server.running()) << server.output();
    int first_status = 0;
    std::thread first([&] {
      httplib::Client c("127.0.0.1", server.port());
      c.set_read_timeout(60);
      auto r = c.Post("/v1/translate", png, "image/png");
      if (r) first_status = r->status;
    });
    ASSERT_TRUE(wait_for_queue_depth(server.port(), 1, 200));
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Post("/v1/translate", png, "image/png");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503) << r->body;
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_NE(r->body.find("--max_queue"), std::string::npos) << r->body;
    first.join();
    EXPECT_EQ(first_status, 200);
  }
  // A large image past --timeout_s is dropped with 504; the server goes on and answers the next one.
  ServeProcess server("--name tiny --checkpoints_dir '" + tiny_serve_run() + "' --eval --timeout_s 0.25");
  ASSERT_TRUE(server.running()) << server.output();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(60);
  const auto start = std::chrono::steady_clock::now();
  auto r = c.Post("/v1/translate", read_file(dir + "/large.png"), "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->body;
  EXPECT_NE(r->body.find("--timeout_s 0.25"), std::string::npos) << r->body;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5.0);
  int status = 0, timeouts = 1;
  for (int i = 0; i < 50 && status != 200; ++i) {  // the dropped forward may still be finishing
    auto again = c.Post("/v1/translate", png, "image/png");
    status = again ? again->status : -1;
    timeouts += status == 504;  // a busy machine can take 0.25 s for a small one too: counted as well
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 200);
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("outcome=\"timeout\"} " + std::to_string(timeouts) + "\n"), std::string::npos) << metrics;
  EXPECT_EQ(server.stop(), 0);
}
