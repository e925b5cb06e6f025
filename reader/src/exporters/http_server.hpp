// exporters/http_server.hpp — the sockets around HttpSession: one epoll thread.
//
// One thread owns the listening socket, every connection and every HttpSession, and never
// blocks: sockets are non-blocking, each wait is bounded (100 ms) so deadlines are checked,
// and handlers (the exporter's routes) only copy prepared data. So no client — slow, idle,
// or sending garbage — can hold a thread the others need, which a worker-pool server with
// blocking reads cannot promise (two idle connections used to deny every scrape).
//
// Connections are bounded in number, in total (max_connections) and per peer address
// (max_connections_per_client). A new connection over a bound takes the place of the
// oldest one of that peer (or of anyone, for the total) that is not being answered: a flood
// of slow connections churns through itself, and a scrape that arrives still gets in.
//
// stop() (and the destructor) wakes the thread through an eventfd and joins it at once,
// whatever the clients are doing: the reader's SIGTERM exit never waits for HTTP.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "exporters/http_session.hpp"

namespace telering::reader {

class HttpServer {
 public:
  struct Stats {
    std::uint64_t accepted = 0;
    std::uint64_t evicted = 0;  // closed to make room under the connection bounds
    std::uint64_t open = 0;
  };

  // `router` must outlive the server and not change while it serves.
  HttpServer(const HttpRouter& router, HttpLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens on host:port (port 0: any free one). Throws std::runtime_error with
  // the system's reason. Then start() serves on a thread of its own.
  void bind(const std::string& host, int port);
  void start();
  // Idempotent; returns once the thread is gone and every connection closed.
  void stop();

  [[nodiscard]] int port() const noexcept { return port_; }
  [[nodiscard]] Stats stats() const noexcept;

 private:
  struct Connection;
  void run();

  const HttpRouter* router_;
  HttpLimits limits_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: stop()
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> accepted_{0}, evicted_{0}, open_{0};
  std::thread thread_;
};

}  // namespace telering::reader
