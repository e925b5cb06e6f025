// exporters/http_server.cpp — see http_server.hpp.
#include "exporters/http_server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <vector>

#include "telering/clock.hpp"

namespace telering::reader {

namespace {

constexpr int kMaxWaitMs = 100;                // deadlines are checked at least this often
constexpr std::size_t kReadChunk = 16 * 1024;  // per read(): what one session may buffer at once
constexpr int kReadsPerEvent = 8;              // fairness: a fast sender does not starve the rest
// After the last answer the connection's input is read and dropped for up to this long
// before it is closed: closing with unread input sends a reset, which can destroy the answer
// (a 413 for a body the client is still sending) before the client reads it.
constexpr std::uint64_t kLingerNs = 2'000'000'000ULL;
constexpr std::size_t kLingerMaxBytes = 4U << 20;  // ... and for at most this much

std::string errno_text() { return std::strerror(errno); }

std::string peer_address(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(a).sin_addr, text, sizeof text);
  else if (a.ss_family == AF_INET6) ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(a).sin6_addr, text, sizeof text);
  return text;
}

}  // namespace

struct HttpServer::Connection {
  Connection(int fd_, std::string peer_, const HttpRouter& router, const HttpLimits& limits, HttpBodyBudget& budget,
             std::uint64_t now_ns)
      : fd(fd_), peer(std::move(peer_)), session(router, limits, budget, now_ns) {}
  ~Connection() { ::close(fd); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd;
  std::string peer;
  HttpSession session;
  std::uint32_t events = 0;        // registered with epoll
  std::uint64_t linger_until = 0;  // answered and shut down for writing: input is dropped until then
  std::size_t lingered_bytes = 0;
};

HttpServer::HttpServer(const HttpRouter& router, HttpLimits limits) : router_(&router), limits_(limits) {}

HttpServer::~HttpServer() {
  stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void HttpServer::bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    throw std::runtime_error("cannot resolve " + host + ": " + ::gai_strerror(rc));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> guard(found, ::freeaddrinfo);
  const int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + errno_text());
  // SO_REUSEADDR only: SO_REUSEPORT would let a second reader bind the same port and
  // silently take half of the scrapes.
  const int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(fd, found->ai_addr, found->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {  // deep: see accept_all
    const std::string why = errno_text();
    ::close(fd);
    throw std::runtime_error(why);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                            : reinterpret_cast<sockaddr_in&>(bound).sin_port);
  listen_fd_ = fd;
}

void HttpServer::start() {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("eventfd: " + errno_text());
  thread_ = std::thread([this] { run(); });
}

void HttpServer::stop() {
  stopping_.store(true, std::memory_order_relaxed);
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
}

HttpServer::Stats HttpServer::stats() const noexcept {
  return Stats{accepted_.load(std::memory_order_relaxed), evicted_.load(std::memory_order_relaxed),
               open_.load(std::memory_order_relaxed)};
}

void HttpServer::run() {
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return;
  const auto watch = [&](int fd, std::uint32_t events, int op) {
    epoll_event e{};
    e.events = events;
    e.data.fd = fd;
    return ::epoll_ctl(ep, op, fd, &e) == 0;
  };
  watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
  watch(wake_fd_, EPOLLIN, EPOLL_CTL_ADD);

  HttpBodyBudget budget{limits_.max_body_bytes_in_flight, 0};
  std::unordered_map<int, std::unique_ptr<Connection>> connections;
  std::unordered_map<std::string, std::size_t> per_client;

  const auto close_connection = [&](int fd) {
    const auto it = connections.find(fd);
    if (it == connections.end()) return;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    if (--per_client[it->second->peer] == 0) per_client.erase(it->second->peer);
    connections.erase(it);
    open_.store(connections.size(), std::memory_order_relaxed);
  };
  // Closes the oldest connection (of `peer`, or of anyone) not being answered; false when
  // every candidate is busy answering.
  const auto evict_oldest = [&](const std::string* peer) {
    // Lingering ones first (already answered), then the oldest.
    Connection* oldest = nullptr;
    const auto rank = [](const Connection& c) { return std::make_pair(c.linger_until == 0, c.session.since_ns()); };
    for (const auto& [fd, c] : connections) {
      if (peer && c->peer != *peer) continue;
      if (c->session.has_output() && c->linger_until == 0) continue;
      if (!oldest || rank(*c) < rank(*oldest)) oldest = c.get();
    }
    if (!oldest) return false;
    evicted_.fetch_add(1, std::memory_order_relaxed);
    close_connection(oldest->fd);
    return true;
  };
  // Registers what the session can do now, or starts its lingering close when it is done.
  const auto update = [&](Connection& c, std::uint64_t now) {
    if (c.session.finished()) {
      if (c.linger_until == 0) {
        c.linger_until = now + kLingerNs;
        ::shutdown(c.fd, SHUT_WR);
        watch(c.fd, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
        c.events = EPOLLIN | EPOLLRDHUP;
      }
      return;
    }
    // A stream's input is watched for its end only: a closed tab frees its stream at once.
    const std::uint32_t want = (c.session.wants_input() || c.session.streaming() ? EPOLLIN | EPOLLRDHUP : 0U) |
                               (c.session.has_output() ? EPOLLOUT : 0U);
    if (want != c.events) {
      watch(c.fd, want, EPOLL_CTL_MOD);
      c.events = want;
    }
  };
  const auto write_out = [&](Connection& c, std::uint64_t now) {
    while (c.session.has_output()) {
      const std::string_view out = c.session.pending_output();
      const ssize_t n = ::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        c.session.consume_output(static_cast<std::size_t>(n), now);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
      return false;  // the peer is gone
    }
    return true;
  };
  const auto read_in = [&](Connection& c, std::uint64_t now) {
    char buf[kReadChunk];
    for (int i = 0; i < kReadsPerEvent && c.session.wants_input(); ++i) {
      const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        c.session.receive(std::string_view(buf, static_cast<std::size_t>(n)), now);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
      if (n < 0) return false;
      c.session.peer_closed();
      return true;
    }
    return true;
  };
  // The backlog is emptied at once (bounded): a SYN the kernel drops on a full backlog costs
  // the client a 1 s retransmission, which a flood of connections must not impose on a scrape.
  const auto accept_all = [&](std::uint64_t now) {
    for (int i = 0; i < 1024; ++i) {
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or out of descriptors: the next turn tries again
      accepted_.fetch_add(1, std::memory_order_relaxed);
      std::string peer = peer_address(addr);
      // Room first, under both bounds: the newcomer takes the place of the oldest.
      if ((per_client.contains(peer) && per_client[peer] >= limits_.max_connections_per_client && !evict_oldest(&peer)) ||
          (connections.size() >= limits_.max_connections && !evict_oldest(nullptr))) {
        evicted_.fetch_add(1, std::memory_order_relaxed);
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Connection>(fd, peer, *router_, limits_, budget, now);
      c->events = EPOLLIN | EPOLLRDHUP;
      if (!watch(fd, c->events, EPOLL_CTL_ADD)) continue;  // the Connection closes fd
      ++per_client[peer];
      Connection& added = *c;
      connections.emplace(fd, std::move(c));
      open_.store(connections.size(), std::memory_order_relaxed);
      // A request that came with the connection is answered now, before later arrivals in
      // this batch could take its place under the per-client bound.
      if (!read_in(added, now) || (added.session.has_output() && !write_out(added, now))) close_connection(fd);
      else update(added, now);
    }
  };

  std::vector<epoll_event> events(64);
  std::uint64_t next_timers = 0;
  while (!stopping_.load(std::memory_order_relaxed)) {
    const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), kMaxWaitMs);
    const std::uint64_t now = monotonic_ns();
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      const std::uint32_t what = events[static_cast<std::size_t>(i)].events;
      if (fd == wake_fd_) continue;  // stopping_ is set
      if (fd == listen_fd_) {
        accept_all(now);
        continue;
      }
      const auto it = connections.find(fd);
      if (it == connections.end()) continue;  // closed earlier in this batch
      Connection& c = *it->second;
      if (c.linger_until != 0) {
        // Dropping what the peer still sends; its end of input (or an error) ends it.
        char drop[kReadChunk];
        ssize_t got = 0;
        for (int r = 0; r < kReadsPerEvent && (got = ::recv(fd, drop, sizeof drop, MSG_DONTWAIT)) > 0; ++r)
          c.lingered_bytes += static_cast<std::size_t>(got);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || c.lingered_bytes > kLingerMaxBytes)
          close_connection(fd);
        continue;
      }
      bool ok = true;
      if (c.session.streaming() && (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        // A stream's peer has nothing more to say: input is its end (or noise, dropped).
        char drop[512];
        const ssize_t got = ::recv(fd, drop, sizeof drop, MSG_DONTWAIT);
        if ((what & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) || got == 0 ||
            (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
          close_connection(fd);
          continue;
        }
      } else if (what & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        ok = read_in(c, now);
      }
      if (ok && c.session.has_output()) ok = write_out(c, now);
      if (!ok) {
        close_connection(fd);
        continue;
      }
      update(c, now);
    }
    if (now >= next_timers) {
      next_timers = now + 50'000'000ULL;
      std::vector<int> due;
      for (const auto& [fd, c] : connections)
        if (now >= (c->linger_until != 0 ? c->linger_until : c->session.deadline_ns())) due.push_back(fd);
      // Streams get what is new since their last turn (SSE events, pings).
      std::vector<int> dropped;
      for (const auto& [fd, c] : connections) {
        if (!c->session.streaming() || c->linger_until != 0) continue;
        const bool had_output = c->session.has_output();
        c->session.pump(now);
        if (!had_output && c->session.has_output() && !write_out(*c, now)) dropped.push_back(fd);
        else update(*c, now);
      }
      for (int fd : dropped) close_connection(fd);
      for (int fd : due) {
        Connection& c = *connections.at(fd);
        if (c.linger_until != 0) {
          close_connection(fd);
          continue;
        }
        c.session.on_time(now);
        if (c.session.has_output() && !write_out(c, now)) {
          close_connection(fd);
          continue;
        }
        update(c, now);
      }
    }
  }
  connections.clear();
  open_.store(0, std::memory_order_relaxed);
  ::close(ep);
}

}  // namespace telering::reader
