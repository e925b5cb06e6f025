// exporters/http_session.cpp — see http_session.hpp.
#include "exporters/http_session.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <exception>

namespace telering::reader {

namespace {

constexpr std::size_t kMaxChunkSizeLine = 1024;  // hex size plus extensions

std::uint64_t ns(std::chrono::milliseconds d) noexcept { return static_cast<std::uint64_t>(d.count()) * 1'000'000ULL; }

bool is_token_char(char c) noexcept {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The next line of `text` from `from` (without its "\n" or "\r\n"), and where the one after
// starts; nullopt when no complete line is there yet.
std::optional<std::pair<std::string_view, std::size_t>> next_line(std::string_view text, std::size_t from) noexcept {
  const std::size_t nl = text.find('\n', from);
  if (nl == std::string_view::npos) return std::nullopt;
  std::string_view line = text.substr(from, nl - from);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return std::make_pair(line, nl + 1);
}

bool has_control(std::string_view s) noexcept {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7F;
  });
}

}  // namespace

std::string_view http_reason(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "";
  }
}

std::string_view HttpRequest::header(std::string_view lower_case_name) const noexcept {
  for (const auto& [name, value] : headers)
    if (name == lower_case_name) return value;
  return {};
}

HttpResponse HttpResponse::text(int status, std::string body, std::string content_type) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body.push_back(std::make_shared<const std::string>(std::move(body)));
  return r;
}

void HttpRouter::route(std::string method, std::string path, Handler handler, bool takes_body, Gate gate) {
  routes_.push_back(Route{std::move(method), std::move(path), std::move(handler), takes_body, std::move(gate)});
}

const HttpRouter::Route* HttpRouter::find(std::string_view method, std::string_view path, std::string* allowed) const {
  const Route* found = nullptr;
  for (const Route& r : routes_) {
    if (r.path != path) continue;
    if (r.method == method || (method == "HEAD" && r.method == "GET")) found = &r;
    if (allowed) *allowed += (allowed->empty() ? "" : ", ") + r.method + (r.method == "GET" ? ", HEAD" : "");
  }
  return found;
}

HttpSession::HttpSession(const HttpRouter& router, const HttpLimits& limits, HttpBodyBudget& budget, std::uint64_t now_ns)
    : router_(&router), limits_(&limits), budget_(&budget), since_ns_(now_ns) {}

HttpSession::~HttpSession() { release_budget(); }

bool HttpSession::wants_input() const noexcept { return !closing_ && out_.empty() && !stream_; }

void HttpSession::pump(std::uint64_t now_ns) {
  if (!stream_ || closing_) return;
  std::vector<std::shared_ptr<const std::string>> parts;
  stream_->pull(parts, now_ns);
  for (auto& part : parts) {
    if (!part || part->empty()) continue;
    if (out_.empty()) write_start_ns_ = now_ns;
    out_bytes_ += part->size();
    out_.push_back(Chunk{std::move(part), 0});
  }
  if (out_bytes_ > kMaxStreamBacklog) {
    // A peer that does not read: dropped, rather than holding memory for it.
    out_.clear();
    out_bytes_ = 0;
    stream_.reset();
    closing_ = true;
  }
}

std::string_view HttpSession::pending_output() const noexcept {
  if (out_.empty()) return {};
  const Chunk& c = out_.front();
  return std::string_view(*c.data).substr(c.offset);
}

void HttpSession::consume_output(std::size_t n, std::uint64_t now_ns) {
  now_ns_ = now_ns;
  while (n > 0 && !out_.empty()) {
    Chunk& c = out_.front();
    const std::size_t left = c.data->size() - c.offset;
    const std::size_t used = std::min(n, left);
    c.offset += used;
    n -= used;
    out_bytes_ -= std::min(out_bytes_, used);
    if (c.offset == c.data->size()) out_.pop_front();
  }
  if (out_.empty() && !closing_) {
    since_ns_ = now_ns;
    process(now_ns);  // a pipelined request may be waiting in the buffer
  } else if (!out_.empty()) {
    write_start_ns_ = now_ns;  // progress: the write deadline counts from the last bytes taken
  }
}

void HttpSession::receive(std::string_view bytes, std::uint64_t now_ns) {
  if (!wants_input()) return;
  now_ns_ = now_ns;
  in_.append(bytes);
  process(now_ns);
}

void HttpSession::peer_closed() {
  // No more input: whatever request is half-read can never complete.
  in_.clear();
  closing_ = true;
  stream_.reset();  // a stream's slot is free at once
}

std::uint64_t HttpSession::deadline_ns() const noexcept {
  if (!out_.empty()) return write_start_ns_ + ns(limits_->write_timeout);
  if (stream_ && !closing_) return UINT64_MAX;  // a stream lasts as long as its peer reads
  if (closing_) return since_ns_;
  if (state_ == State::Head) {
    if (request_start_ns_ != 0) return request_start_ns_ + ns(limits_->header_timeout);
    return since_ns_ + ns(limits_->idle_timeout);
  }
  return body_start_ns_ + ns(limits_->body_timeout);
}

void HttpSession::on_time(std::uint64_t now_ns) {
  if (now_ns < deadline_ns()) return;
  now_ns_ = now_ns;
  if (!out_.empty()) {
    // The peer does not take its answer: give up on it.
    out_.clear();
    out_bytes_ = 0;
    stream_.reset();
    closing_ = true;
    return;
  }
  if (closing_) return;
  if (state_ == State::Head && request_start_ns_ == 0) {
    closing_ = true;  // idle keep-alive connection: closed without a word
    return;
  }
  refuse(408, state_ == State::Head ? "the request's headers did not arrive in time" : "the request's body did not arrive in time");
}

void HttpSession::process(std::uint64_t now_ns) {
  // One answer at a time: the next pipelined request waits until this one is written.
  while (!closing_ && out_.empty()) {
    const bool progressed = state_ == State::Head ? parse_head(now_ns) : parse_body(now_ns);
    if (!progressed) break;
  }
}

bool HttpSession::parse_head(std::uint64_t now_ns) {
  // Empty lines before a request line are ignored (RFC 9112 2.2).
  std::size_t skip = 0;
  while (skip < in_.size() && (in_[skip] == '\r' || in_[skip] == '\n')) ++skip;
  if (skip != 0) in_.erase(0, skip);
  if (in_.empty()) return false;
  if (request_start_ns_ == 0) request_start_ns_ = now_ns;
  head_only_ = false;

  const std::string_view text(in_);
  const auto request_line = next_line(text, 0);
  if (!request_line) {
    if (text.size() > limits_->max_request_line) refuse(414, "request line over 8 KiB");
    return false;
  }
  if (request_line->first.size() > limits_->max_request_line) {
    refuse(414, "request line over 8 KiB");
    return false;
  }
  // The header section ends at an empty line.
  std::size_t pos = request_line->second;
  std::size_t fields = 0;
  std::vector<std::pair<std::string_view, std::string_view>> raw;
  for (;;) {
    const auto line = next_line(text, pos);
    if (!line) {
      if (text.size() - request_line->second > limits_->max_header_bytes) refuse(431, "header section over 16 KiB");
      return false;
    }
    if (line->second - request_line->second > limits_->max_header_bytes) {
      refuse(431, "header section over 16 KiB");
      return false;
    }
    pos = line->second;
    if (line->first.empty()) break;
    if (++fields > limits_->max_header_fields) {
      refuse(431, "more than 100 header fields");
      return false;
    }
    const std::string_view l = line->first;
    const std::size_t colon = l.find(':');
    if (l.front() == ' ' || l.front() == '\t' || colon == std::string_view::npos || !is_token(l.substr(0, colon)) ||
        has_control(l.substr(colon + 1))) {
      refuse(400, "malformed header field");
      return false;
    }
    raw.emplace_back(l.substr(0, colon), trim(l.substr(colon + 1)));
  }

  // Request line: METHOD SP TARGET SP HTTP/1.x
  const std::string_view rl = request_line->first;
  const std::size_t sp1 = rl.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : rl.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || rl.find(' ', sp2 + 1) != std::string_view::npos) {
    refuse(400, "malformed request line");
    return false;
  }
  const std::string_view method = rl.substr(0, sp1);
  const std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = rl.substr(sp2 + 1);
  if (!is_token(method) || target.empty() || target.front() != '/' || has_control(target) ||
      target.find('\t') != std::string_view::npos) {
    refuse(400, "malformed request line");
    return false;
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    refuse(version.starts_with("HTTP/") ? 505 : 400, "only HTTP/1.0 and HTTP/1.1 are spoken here");
    return false;
  }
  request_ = HttpRequest{};
  request_.method = std::string(method);
  const std::size_t q = target.find('?');
  request_.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) request_.query = std::string(target.substr(q + 1));
  for (const auto& [name, value] : raw) request_.headers.emplace_back(lower(name), std::string(value));
  in_.erase(0, pos);
  ++requests_;

  const std::string connection = lower(request_.header("connection"));
  keep_alive_ = version == "HTTP/1.1" ? connection.find("close") == std::string::npos
                                      : connection.find("keep-alive") != std::string::npos;
  head_only_ = request_.method == "HEAD";

  // How the body is framed. Both framings at once is how requests are smuggled: refused.
  std::optional<std::uint64_t> length;
  bool chunked = false;
  for (const auto& [name, value] : request_.headers) {
    if (name == "content-length") {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc{} || end != value.data() + value.size() || value.empty() || (length && *length != n)) {
        refuse(ec == std::errc::result_out_of_range ? 413 : 400, "bad Content-Length");
        return false;
      }
      length = n;
    } else if (name == "transfer-encoding") {
      if (lower(value) != "chunked" || chunked) {
        refuse(501, "only the chunked transfer coding is accepted");
        return false;
      }
      chunked = true;
    }
  }
  if (length && chunked) {
    refuse(400, "both Content-Length and Transfer-Encoding");
    return false;
  }
  const bool has_body = chunked || (length && *length > 0);

  std::string allowed;
  route_ = router_->find(request_.method, request_.path, &allowed);
  if (!route_) {
    if (allowed.empty()) {
      refuse(404, "no such path here");
    } else {
      HttpResponse r = HttpResponse::text(405, "method not allowed\n");
      r.headers.emplace_back("Allow", allowed);
      answer(std::move(r), true);
    }
    return false;
  }
  if (has_body && !route_->takes_body) {
    refuse(413, "this path takes no body");
    return false;
  }
  // Authorisation first, from the headers alone: nothing of the body is read, and nothing
  // about it (size, coding) is told, before the token is right.
  if (route_->gate) {
    if (std::optional<HttpResponse> refused = route_->gate(request_)) {
      answer(std::move(*refused), true);
      return false;
    }
  }
  if (route_->takes_body && !length && !chunked) {
    refuse(411, "a body needs Content-Length or chunked transfer coding");
    return false;
  }
  if (const std::string coding = lower(request_.header("content-encoding")); !coding.empty() && coding != "identity") {
    // A compressed body is never inflated: a small bomb would take gigabytes.
    refuse(415, "compressed bodies (Content-Encoding) are not accepted");
    return false;
  }
  if (length && *length > limits_->max_body_bytes) {
    refuse(413, "body over 1 MiB");
    return false;
  }
  if (!has_body) {
    finish_request(now_ns);
    return true;
  }
  if (length && !take_budget(static_cast<std::size_t>(*length))) {
    refuse(503, "too many request bodies in flight; retry later");
    return false;
  }
  if (lower(request_.header("expect")) == "100-continue") {
    static const auto kContinue = std::make_shared<const std::string>("HTTP/1.1 100 Continue\r\n\r\n");
    write_start_ns_ = now_ns;
    out_bytes_ += kContinue->size();
    out_.push_back(Chunk{kContinue, 0});
  }
  body_left_ = length ? static_cast<std::size_t>(*length) : 0;
  state_ = chunked ? State::ChunkSize : State::Body;
  body_start_ns_ = now_ns;
  return true;
}

bool HttpSession::parse_body(std::uint64_t now_ns) {
  switch (state_) {
    case State::Body:
    case State::ChunkData: {
      if (in_.empty()) return false;
      const std::size_t n = std::min(in_.size(), body_left_);
      request_.body.append(in_, 0, n);
      in_.erase(0, n);
      body_left_ -= n;
      if (body_left_ != 0) return n != 0;
      if (state_ == State::Body) finish_request(now_ns);
      else state_ = State::ChunkDataEnd;
      return true;
    }
    case State::ChunkDataEnd: {
      if (in_.starts_with("\r\n")) in_.erase(0, 2);
      else if (in_.starts_with("\n")) in_.erase(0, 1);
      else if (in_.size() >= 2 || (in_.size() == 1 && in_[0] != '\r')) {
        refuse(400, "malformed chunk");
        return false;
      } else {
        return false;
      }
      state_ = State::ChunkSize;
      return true;
    }
    case State::ChunkSize: {
      const auto line = next_line(in_, 0);
      if (!line) {
        if (in_.size() > kMaxChunkSizeLine) refuse(400, "malformed chunk size");
        return false;
      }
      const std::string_view hex = trim(line->first.substr(0, line->first.find(';')));
      std::uint64_t size = 0;
      const auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
      if (hex.empty() || end != hex.data() + hex.size() || (ec != std::errc{} && ec != std::errc::result_out_of_range)) {
        refuse(400, "malformed chunk size");
        return false;
      }
      in_.erase(0, line->second);
      if (size == 0) {
        state_ = State::Trailers;
        body_left_ = 0;  // counts trailer bytes from here
        return true;
      }
      // Counted as announced: a stream of chunks stops at the limit, whatever it claims next.
      if (ec == std::errc::result_out_of_range || size > limits_->max_body_bytes - request_.body.size()) {
        refuse(413, "body over 1 MiB");
        return false;
      }
      if (!take_budget(static_cast<std::size_t>(size))) {
        refuse(503, "too many request bodies in flight; retry later");
        return false;
      }
      body_left_ = static_cast<std::size_t>(size);
      state_ = State::ChunkData;
      return true;
    }
    case State::Trailers: {
      const auto line = next_line(in_, 0);
      if (!line) {
        if (body_left_ + in_.size() > limits_->max_header_bytes) refuse(431, "trailer section over 16 KiB");
        return false;
      }
      body_left_ += line->second;
      in_.erase(0, line->second);
      if (body_left_ > limits_->max_header_bytes) {
        refuse(431, "trailer section over 16 KiB");
        return false;
      }
      if (line->first.empty()) finish_request(now_ns);  // trailer fields are read and ignored
      return true;
    }
    case State::Head:
    case State::Done:
      break;
  }
  return false;
}

void HttpSession::finish_request(std::uint64_t now_ns) {
  HttpResponse response;
  try {
    response = route_->handler(request_);
  } catch (const std::exception& e) {
    response = HttpResponse::text(500, std::string("internal error: ") + e.what() + "\n");
  }
  (void)now_ns;
  answer(std::move(response), !keep_alive_);
  release_budget();
  request_ = HttpRequest{};
  route_ = nullptr;
  state_ = State::Head;
  request_start_ns_ = 0;
  body_left_ = 0;
}

void HttpSession::refuse(int status, std::string_view why) {
  answer(HttpResponse::text(status, std::string(why) + "\n"), true);
}

void HttpSession::answer(HttpResponse response, bool close) {
  std::size_t body_size = 0;
  for (const auto& part : response.body) body_size += part ? part->size() : 0;
  // A stream has no length: its body ends when the connection does, which serves nothing
  // else (so the connection is announced as closing, and no further request is read).
  const bool stream = response.stream && !head_only_;
  if (response.stream && head_only_) close = true;
  std::string head = "HTTP/1.1 " + std::to_string(response.status) + " " + std::string(http_reason(response.status)) +
                     "\r\nContent-Type: " + response.content_type + "\r\n";
  if (!stream) head += "Content-Length: " + std::to_string(body_size) + "\r\n";
  for (const auto& [name, value] : response.headers) head += name + ": " + value + "\r\n";
  if (close || stream) head += "Connection: close\r\n";
  head += "\r\n";
  if (out_.empty()) write_start_ns_ = now_ns_;
  out_bytes_ += head.size();
  out_.push_back(Chunk{std::make_shared<const std::string>(std::move(head)), 0});
  if (!head_only_)
    for (auto& part : response.body)
      if (part && !part->empty()) {
        out_bytes_ += part->size();
        out_.push_back(Chunk{std::move(part), 0});
      }
  if (stream) {
    stream_ = std::move(response.stream);
    state_ = State::Done;
    in_.clear();
    release_budget();
    return;
  }
  if (close) {
    closing_ = true;
    state_ = State::Done;
    in_.clear();
    release_budget();
  }
}

bool HttpSession::take_budget(std::size_t n) {
  if (budget_->used + n > budget_->limit) return false;
  budget_->used += n;
  budget_taken_ += n;
  return true;
}

void HttpSession::release_budget() {
  budget_->used -= budget_taken_;
  budget_taken_ = 0;
}

}  // namespace telering::reader
