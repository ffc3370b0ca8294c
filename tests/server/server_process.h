// Starts the real `hearth serve` on a free port for the server tests, and always stops it: SIGTERM (a graceful
// stop must exit 0), SIGKILL if it has not exited within a bounded wait. Every wait here is bounded, so a hung
// server fails a test instead of hanging the suite.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace hearth::test {

class ServerProcess {
 public:
  // Runs `hearth serve --port 0 <args>` and waits (at most `timeout`) for its "listening on" line and, with
  // `wait_until_ready`, for /health to stop answering 503 (the -m models load after the socket listens). With
  // `stderr_path`, the program's stderr (its access log) goes to that file instead of the test's.
  explicit ServerProcess(const std::vector<std::string>& args, std::chrono::seconds timeout = std::chrono::seconds(120),
                         const std::string& stderr_path = "", bool wait_until_ready = true) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      if (!stderr_path.empty()) {
        const int err = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (err >= 0) ::dup2(err, 2);
      }
      ::close(out[0]);
      ::close(out[1]);
      std::vector<std::string> argv_s = {hearth_binary(), "serve", "--port", "0"};
      argv_s.insert(argv_s.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : argv_s) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    out_fd_ = out[0];
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string buf;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char c[256];
      const ssize_t n = ::read(out_fd_, c, sizeof c);
      if (n <= 0) break;  // exited before it listened
      buf.append(c, size_t(n));
      const size_t at = buf.find("listening on http://");
      const size_t eol = at == std::string::npos ? at : buf.find('\n', at);
      if (eol != std::string::npos) {
        const std::string url = buf.substr(at + 20, eol - at - 20);  // host:port
        port_ = std::stoi(url.substr(url.rfind(':') + 1));
        host_ = url.substr(0, url.rfind(':'));
        while (wait_until_ready && health_status() == 503 && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return;
      }
    }
  }

  ~ServerProcess() { stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  bool ready() const { return port_ > 0; }
  // GET /health's status over a plain socket (0 when there is no answer).
  int health_status() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port_));
    int status = 0;
    if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) == 1 &&
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      const std::string req = "GET /health HTTP/1.0\r\n\r\n";
      if (::write(fd, req.data(), req.size()) == ssize_t(req.size())) {
        char buf[64] = {};
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) > 0 && ::read(fd, buf, sizeof buf - 1) > 12) status = std::atoi(buf + 9);  // "HTTP/1.1 200"
      }
    }
    ::close(fd);
    return status;
  }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::string& host() const { return host_; }
  std::string base_url() const { return "http://" + host_ + ":" + std::to_string(port_); }

  // SIGTERM, then waits up to `grace` for the exit; SIGKILL after that. Returns the exit code (-1 when it had to
  // be killed or did not exit normally).
  int stop(std::chrono::seconds grace = std::chrono::seconds(30)) {
    if (pid_ <= 0) return code_;
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (r < 0 || std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        code_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
    if (out_fd_ >= 0) ::close(out_fd_);
    out_fd_ = -1;
    return code_;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  int port_ = 0;
  int code_ = -1;
  std::string host_;
};

}  // namespace hearth::test
