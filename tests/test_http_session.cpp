// HttpSession (issue 12 items 3 and 4): the reader's HTTP request path without sockets, with
// the test's clock. Every bound answers (414, 431, 411, 413, 415, 405, 408) and closes;
// the token is checked before a byte of the body is read; pipelined requests are answered
// in order, one at a time.
#include <gtest/gtest.h>

#include <string>

#include "exporters/http_session.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kMs = 1'000'000ULL;

struct Rig {
  Rig() {
    router.route("GET", "/metrics", [this](const HttpRequest&) {
      ++scrapes;
      return HttpResponse::text(200, "metrics page\n");
    });
    router.route(
        "POST", "/hook",
        [this](const HttpRequest& r) {
          bodies_read += r.body.size();
          return HttpResponse::text(200, "got " + std::to_string(r.body.size()) + "\n");
        },
        /*takes_body=*/true,
        [](const HttpRequest& r) -> std::optional<HttpResponse> {
          if (r.header("authorization") != "Bearer s") return HttpResponse::text(401, "no\n");
          return std::nullopt;
        });
  }
  HttpSession& session() {
    if (!s) s = std::make_unique<HttpSession>(router, limits, budget, now);
    return *s;
  }
  void send(std::string_view bytes) { session().receive(bytes, now); }
  // Everything the session wants to write, as if the peer read it all.
  std::string take() {
    std::string out;
    while (session().has_output()) {
      const std::string_view o = session().pending_output();
      out += o;
      session().consume_output(o.size(), now);
    }
    return out;
  }
  static int status_of(const std::string& out) { return out.size() > 12 ? std::stoi(out.substr(9, 3)) : 0; }

  HttpRouter router;
  HttpLimits limits;
  HttpBodyBudget budget;
  std::uint64_t now = 1000 * kMs;
  std::unique_ptr<HttpSession> s;
  int scrapes = 0;
  std::size_t bodies_read = 0;
};

const std::string kGet = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

std::string post(std::string_view token, std::string_view body, std::string_view framing = {}) {
  std::string r = "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + std::string(token) + "\r\n";
  r += framing.empty() ? "Content-Length: " + std::to_string(body.size()) + "\r\n" : std::string(framing);
  return r + "\r\n" + std::string(body);
}

TEST(HttpSession, AnswersAGetAndKeepsTheConnection) {
  Rig rig;
  rig.send(kGet);
  const std::string out = rig.take();
  EXPECT_EQ(Rig::status_of(out), 200) << out;
  EXPECT_NE(out.find("Content-Length: 13\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("metrics page\n"));
  EXPECT_TRUE(rig.session().wants_input());
  EXPECT_FALSE(rig.session().finished());
}

TEST(HttpSession, PipelinedRequestsAreAnsweredInOrderOneAtATime) {
  Rig rig;
  rig.send(kGet + kGet + kGet);
  EXPECT_EQ(rig.scrapes, 1) << "the next request waits until the answer is written";
  EXPECT_FALSE(rig.session().wants_input());
  const std::string out = rig.take();
  EXPECT_EQ(rig.scrapes, 3);
  std::size_t answers = 0;
  for (std::size_t at = 0; (at = out.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++answers;
  EXPECT_EQ(answers, 3U);
}

TEST(HttpSession, ALongRequestLineGets414) {
  Rig rig;
  rig.send("GET /" + std::string(9000, 'a'));  // no end of line yet: refused anyway
  EXPECT_EQ(Rig::status_of(rig.take()), 414);
  EXPECT_TRUE(rig.session().finished());
}

TEST(HttpSession, TooManyHeaderBytesGet431) {
  Rig rig;
  std::string r = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 400; ++i) r += "X-Pad-" + std::to_string(i) + ": " + std::string(40, 'p') + "\r\n";
  rig.send(r);
  EXPECT_EQ(Rig::status_of(rig.take()), 431);
  EXPECT_TRUE(rig.session().finished());
}

TEST(HttpSession, AWrongTokenIsRefusedBeforeTheBodyIsRead) {
  Rig rig;
  // Headers only: the 1 MiB the client announces never has to arrive.
  rig.send("POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: 1000000\r\n\r\n");
  EXPECT_EQ(Rig::status_of(rig.take()), 401);
  EXPECT_TRUE(rig.session().finished());
  EXPECT_EQ(rig.budget.used, 0U);
  Rig chunked;
  chunked.send(post("wrong", "", "Transfer-Encoding: chunked\r\n"));
  EXPECT_EQ(Rig::status_of(chunked.take()), 401);
}

TEST(HttpSession, BodiesAreCappedAtOneMiBWhateverTheFraming) {
  {
    Rig rig;
    rig.send(post("s", "", "Content-Length: 1048577\r\n"));
    EXPECT_EQ(Rig::status_of(rig.take()), 413);
  }
  {
    // Chunked: refused as soon as the announced chunks pass 1 MiB, whatever follows.
    Rig rig;
    rig.send(post("s", "", "Transfer-Encoding: chunked\r\n"));
    const std::string chunk = "40000\r\n" + std::string(0x40000, 'x') + "\r\n";  // 256 KiB
    int sent = 0;
    while (rig.session().wants_input() && sent < 100) {
      rig.send(chunk);
      ++sent;
    }
    EXPECT_EQ(Rig::status_of(rig.take()), 413);
    EXPECT_LE(sent, 5) << "the stream stops at the limit";
    EXPECT_EQ(rig.bodies_read, 0U);
    EXPECT_EQ(rig.budget.used, 0U) << "what the body held is given back";
  }
  {
    Rig rig;
    rig.send(post("s", "", "Transfer-Encoding: chunked\r\n") + "3e8\r\n" + std::string(1000, 'b') + "\r\n0\r\n\r\n");
    const std::string out = rig.take();
    EXPECT_EQ(Rig::status_of(out), 200) << out;
    EXPECT_TRUE(out.ends_with("got 1000\n"));
  }
}

TEST(HttpSession, ALengthLessBodyGets411) {
  Rig rig;
  rig.send("POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s\r\n\r\n{\"alerts\":[]}");
  EXPECT_EQ(Rig::status_of(rig.take()), 411);
}

TEST(HttpSession, CompressedBodiesGet415AndAreNeverInflated) {
  Rig rig;
  rig.send(post("s", "\x1f\x8b", "Content-Length: 2\r\nContent-Encoding: gzip\r\n"));
  EXPECT_EQ(Rig::status_of(rig.take()), 415);
  EXPECT_EQ(rig.bodies_read, 0U);
}

TEST(HttpSession, UnknownPathsAndMethodsAndSmugglingAreRefused) {
  {
    Rig rig;
    rig.send("DELETE /metrics HTTP/1.1\r\n\r\n");
    const std::string out = rig.take();
    EXPECT_EQ(Rig::status_of(out), 405);
    EXPECT_NE(out.find("Allow: GET, HEAD"), std::string::npos);
  }
  {
    Rig rig;
    rig.send("GET /nope HTTP/1.1\r\n\r\n");
    EXPECT_EQ(Rig::status_of(rig.take()), 404);
  }
  {
    Rig rig;
    rig.send(post("s", "", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"));
    EXPECT_EQ(Rig::status_of(rig.take()), 400);
  }
  {
    Rig rig;
    rig.send("GET /metrics HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
    EXPECT_EQ(Rig::status_of(rig.take()), 413) << "a route that takes no body";
  }
  {
    Rig rig;
    rig.send("HEAD /metrics HTTP/1.1\r\n\r\n");
    const std::string out = rig.take();
    EXPECT_EQ(Rig::status_of(out), 200);
    EXPECT_TRUE(out.ends_with("\r\n\r\n")) << "no body for HEAD";
  }
}

TEST(HttpSession, SlowHeadersAndBodiesGet408AtTheirDeadlines) {
  {
    Rig rig;
    rig.send("GET /metrics HTTP/1.1\r\nX-Slow: ");  // a slowloris client
    rig.now += 4900 * kMs;
    rig.session().on_time(rig.now);
    EXPECT_FALSE(rig.session().has_output());
    rig.send("a");  // trickling bytes does not move the deadline
    rig.now += 200 * kMs;
    rig.session().on_time(rig.now);
    EXPECT_EQ(Rig::status_of(rig.take()), 408);
    EXPECT_TRUE(rig.session().finished());
  }
  {
    Rig rig;
    rig.send(post("s", "12345", "Content-Length: 10\r\n"));
    rig.now += 10'001 * kMs;
    rig.session().on_time(rig.now);
    EXPECT_EQ(Rig::status_of(rig.take()), 408);
  }
  {
    Rig rig;
    rig.send(kGet);
    (void)rig.take();
    rig.now += 30'001 * kMs;  // an idle keep-alive connection
    rig.session().on_time(rig.now);
    EXPECT_TRUE(rig.session().finished());
    EXPECT_FALSE(rig.session().has_output()) << "closed without a word";
  }
}

TEST(HttpSession, BodiesInFlightShareOneBudget) {
  Rig rig;
  rig.budget.limit = 100;
  HttpSession other(rig.router, rig.limits, rig.budget, rig.now);
  other.receive(post("s", "", "Content-Length: 80\r\n"), rig.now);  // holds 80 of 100
  rig.send(post("s", "", "Content-Length: 50\r\n"));
  EXPECT_EQ(Rig::status_of(rig.take()), 503);
  other.receive(std::string(80, 'x'), rig.now);
  EXPECT_EQ(rig.budget.used, 0U);
}

}  // namespace
}  // namespace telering::reader
