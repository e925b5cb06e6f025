// libFuzzer: any bytes as what a client sends the reader's HTTP side (HttpSession with the
// reader's routes and a real AlertmanagerWebhook with rules and a secret). The input is cut
// into pieces at points the input itself chooses, with time advancing between them, so
// requests split anywhere, pipelined requests and deadlines are all reached.
//
// Invariants checked: every answer starts with a status line; a handler never sees a body
// over 1 MiB; the shared body budget comes back to zero when the session ends; nothing
// crashes, hangs or leaks (ASan).
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "exporters/http_session.hpp"
#include "ingress/alertmanager_webhook.hpp"

namespace {

using namespace telering::reader;

AlertmanagerWebhook& webhook() {
  static AlertmanagerWebhook w = [] {
    AlertmanagerConfig c;
    c.secret = "s3cret";
    AlertmanagerRule r;
    r.alertname = "ExchangeApiDegraded";
    r.target = "kucoin_api";
    c.rules.push_back(r);
    return AlertmanagerWebhook(c, "127.0.0.1");
  }();
  return w;
}

const HttpRouter& router() {
  static const HttpRouter r = [] {
    HttpRouter out;
    out.route("GET", "/metrics", [](const HttpRequest&) { return HttpResponse::text(200, "# metrics\n"); });
    out.route("GET", "/-/ready", [](const HttpRequest&) { return HttpResponse::text(200, "ready\n"); });
    out.route(
        "POST", "/alertmanager",
        [](const HttpRequest& req) {
          if (req.body.size() > (1U << 20)) __builtin_trap();
          const AlertmanagerWebhook::Reply reply = webhook().handle(req.header("authorization"), req.body, 1);
          std::vector<ExternalAction> drained;
          (void)webhook().take(drained);  // keep the queue from filling up across inputs
          return HttpResponse::text(reply.status, reply.body, "application/json");
        },
        true, [](const HttpRequest& req) -> std::optional<HttpResponse> {
          if (auto refused = webhook().authorize(req.header("authorization"))) return HttpResponse::text(refused->status, refused->body);
          return std::nullopt;
        });
    return out;
  }();
  return r;
}

void drain_output(HttpSession& s, std::uint64_t now) {
  while (s.has_output()) {
    const std::string_view out = s.pending_output();
    s.consume_output(out.size(), now);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  HttpLimits limits;
  HttpBodyBudget budget{limits.max_body_bytes_in_flight, 0};
  std::uint64_t now = 1'000'000'000ULL;
  {
    HttpSession session(router(), limits, budget, now);
    std::string_view in(reinterpret_cast<const char*>(data), size);
    while (!in.empty() && !session.finished()) {
      // One control byte: how much to send next, and how far time moves.
      const auto control = static_cast<std::uint8_t>(in.front());
      in.remove_prefix(1);
      const std::size_t piece = std::min<std::size_t>(in.size(), 1U + (control & 0x3FU) * 37U);
      if (session.wants_input()) {
        session.receive(in.substr(0, piece), now);
        in.remove_prefix(piece);
      }
      if (session.has_output()) {
        const std::string_view out = session.pending_output();
        if (out.size() < 9 || std::memcmp(out.data(), "HTTP/1.1 ", 9) != 0) __builtin_trap();
        drain_output(session, now);
      }
      now += (control >> 6) == 3 ? 6'000'000'000ULL : (control >> 6) * 1'000'000ULL;
      session.on_time(now);
      drain_output(session, now);
    }
  }
  if (budget.used != 0) __builtin_trap();
  return 0;
}
