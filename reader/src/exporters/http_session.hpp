// exporters/http_session.hpp — one HTTP/1.1 connection of the reader, without sockets.
//
// The reader's HTTP side faces whatever can reach its port: Prometheus, Alertmanager, and
// anyone else. An HttpSession turns the bytes of one connection into requests and queues
// the answers, with every resource bounded before it is spent:
//
//  - the request line at 8 KiB (414), the header section at 16 KiB and 100 fields (431);
//  - a body only on a route that takes one (else 413), only after the route's gate (the
//    Alertmanager webhook checks its token there: 401/404 before a byte of the body is
//    read), only with a Content-Length or chunked transfer coding (411 otherwise), never
//    with a content coding (415: a gzip bomb is never inflated), and never over 1 MiB in
//    any transfer coding (413, counted as it arrives, so a chunked stream stops at 1 MiB);
//  - time: the headers of a request must arrive within header_timeout of its first byte,
//    its body within body_timeout of its headers (408), and a response be taken within
//    write_timeout; an idle keep-alive connection is closed after idle_timeout;
//  - pipelining: requests are answered in order, one at a time — the next one is parsed
//    only once the previous answer has been written out, so a client that pipelines
//    without reading holds at most one answer in memory.
// Every 4xx closes the connection after the answer (the rest of its input is not trusted).
//
// The session is driven by its transport (http_server.hpp) and by the fuzzer
// (tests/fuzz/fuzz_http.cpp): receive() bytes, take output(), advance time with
// on_time(). Handlers run on the caller's thread. Thread safety: one thread per session.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace telering::reader {

struct HttpLimits {
  std::size_t max_request_line = 8 * 1024;
  std::size_t max_header_bytes = 16 * 1024;
  std::size_t max_header_fields = 100;
  std::size_t max_body_bytes = 1 << 20;  // the documented 1 MiB, whatever the transfer coding
  std::chrono::milliseconds header_timeout{5000};
  std::chrono::milliseconds body_timeout{10000};
  std::chrono::milliseconds write_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
  std::size_t max_connections = 256;           // http_server.hpp
  std::size_t max_connections_per_client = 32;  // per peer address
  std::size_t max_body_bytes_in_flight = 8 << 20;  // all connections' bodies being read, together
};

struct HttpRequest {
  std::string method;
  std::string path;   // the target without its query
  std::string query;  // after '?', or ""
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, values trimmed
  std::string body;
  [[nodiscard]] std::string_view header(std::string_view lower_case_name) const noexcept;
};

// The rest of a response that has no end (Server-Sent Events): after the head and the
// response's body parts, the server asks the stream for more about every 50 ms for as long
// as the peer stays connected. Destroyed, on the server's thread, as soon as the peer leaves
// (its end of input, a reset or a write error) or the server stops.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // Appends what to send next (nothing is fine). The server's thread only.
  virtual void pull(std::vector<std::shared_ptr<const std::string>>& out, std::uint64_t now_ns) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields
  // Sent one after the other. Shared, so that a cached page served to many connections at
  // once is held in memory once, not once per connection.
  std::vector<std::shared_ptr<const std::string>> body;
  // Non-null: a streaming response (no Content-Length, the connection serves nothing else and
  // ends with the peer). Ignored for HEAD, whose answer is the head alone.
  std::shared_ptr<HttpStream> stream;

  [[nodiscard]] static HttpResponse text(int status, std::string body, std::string content_type = "text/plain; charset=utf-8");
};

// What a server answers on, by method and path. Immutable once serving starts.
class HttpRouter {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Runs once a request's headers are in, before any of its body is read: a response
  // refuses the request (the body is never read). For authorisation.
  using Gate = std::function<std::optional<HttpResponse>(const HttpRequest&)>;

  // GET routes also answer HEAD. A route with `takes_body` reads bodies (bounded); any
  // other refuses a request that has one.
  void route(std::string method, std::string path, Handler handler, bool takes_body = false, Gate gate = {});

  struct Route {
    std::string method;
    std::string path;
    Handler handler;
    bool takes_body = false;
    Gate gate;
  };
  // nullptr when nothing serves (method, path); `allowed` lists the methods the path has.
  [[nodiscard]] const Route* find(std::string_view method, std::string_view path, std::string* allowed) const;

 private:
  std::vector<Route> routes_;
};

// Bytes of bodies being read, across connections: a slow client with a valid token cannot
// make every connection hold a full body at once. Owned by the server (one thread).
struct HttpBodyBudget {
  std::size_t limit = 8 << 20;
  std::size_t used = 0;
};

class HttpSession {
 public:
  HttpSession(const HttpRouter& router, const HttpLimits& limits, HttpBodyBudget& budget, std::uint64_t now_ns);
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Bytes from the peer. Only call while wants_input(); may queue answers.
  void receive(std::string_view bytes, std::uint64_t now_ns);
  // The peer closed its side: a request cut short is dropped, nothing more is parsed.
  void peer_closed();
  // Expires deadlines (may queue a 408 or end the session). Call at least every 100 ms.
  void on_time(std::uint64_t now_ns);
  // The monotonic time at which on_time() has something to do.
  [[nodiscard]] std::uint64_t deadline_ns() const noexcept;

  // True when the session can use more input (not writing an answer, not closing).
  [[nodiscard]] bool wants_input() const noexcept;
  // Output not yet written: a view of the front of it, and how much of it went out.
  [[nodiscard]] std::string_view pending_output() const noexcept;
  void consume_output(std::size_t n, std::uint64_t now_ns);
  [[nodiscard]] bool has_output() const noexcept { return !out_.empty(); }
  // Nothing more will happen on this connection once the output is written.
  [[nodiscard]] bool finished() const noexcept { return closing_ && out_.empty(); }
  // Answering with a stream (HttpResponse::stream): no more requests are parsed; the peer's
  // input is only watched for its end.
  [[nodiscard]] bool streaming() const noexcept { return stream_ != nullptr; }
  // Streaming: appends what the stream has now. A peer that leaves more than
  // kMaxStreamBacklog unread is dropped (it reconnects and starts afresh).
  void pump(std::uint64_t now_ns);
  static constexpr std::size_t kMaxStreamBacklog = 4U << 20;
  // True while no request is under way (for choosing which connection to close first).
  [[nodiscard]] bool idle() const noexcept { return state_ == State::Head && in_.empty() && out_.empty(); }
  [[nodiscard]] std::uint64_t requests() const noexcept { return requests_; }
  [[nodiscard]] std::uint64_t since_ns() const noexcept { return since_ns_; }

 private:
  enum class State : std::uint8_t { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, Done };

  void process(std::uint64_t now_ns);
  bool parse_head(std::uint64_t now_ns);
  bool parse_body(std::uint64_t now_ns);
  void start_body(const HttpRouter::Route& route, std::uint64_t now_ns);
  void finish_request(std::uint64_t now_ns);
  void refuse(int status, std::string_view why);
  void answer(HttpResponse response, bool close);
  bool take_budget(std::size_t n);
  void release_budget();

  struct Chunk {
    std::shared_ptr<const std::string> data;
    std::size_t offset = 0;
  };

  const HttpRouter* router_;
  const HttpLimits* limits_;
  HttpBodyBudget* budget_;
  State state_ = State::Head;
  std::string in_;                 // received, not yet parsed
  std::deque<Chunk> out_;          // answers not yet written
  HttpRequest request_;
  const HttpRouter::Route* route_ = nullptr;
  bool head_only_ = false;         // HEAD: the answer has no body
  bool keep_alive_ = true;
  bool closing_ = false;
  std::size_t body_left_ = 0;      // Content-Length or current chunk bytes still to come
  std::size_t budget_taken_ = 0;
  std::uint64_t since_ns_ = 0;     // connection start, or end of the previous answer
  std::uint64_t request_start_ns_ = 0;  // first byte of the current request (0: none yet)
  std::uint64_t body_start_ns_ = 0;
  std::uint64_t write_start_ns_ = 0;  // the answer being written started, or last made progress
  std::uint64_t now_ns_ = 0;          // the time of the call being handled
  std::uint64_t requests_ = 0;
  std::shared_ptr<HttpStream> stream_;  // streaming answer in progress
  std::size_t out_bytes_ = 0;           // bytes in out_ not yet written (streaming backlog)
};

// The reason phrase of a status code ("Payload Too Large"); "" for an unknown one.
[[nodiscard]] std::string_view http_reason(int status) noexcept;

}  // namespace telering::reader
