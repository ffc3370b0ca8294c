// Workspaces kept between forward passes: a warm one has its pages mapped already, which matters for the
// latency of short single-sentence calls (a fresh one page-faults its way through every activation). One
// workspace per concurrent caller; lease() hands one out and takes it back, reset, when the lease ends.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "backends/backend.h"

namespace hearth {

class WorkspacePool {
 public:
  explicit WorkspacePool(Backend& backend) : backend_(backend) {}

  class Lease {
   public:
    Lease(WorkspacePool& pool, std::unique_ptr<Workspace> ws) : pool_(pool), ws_(std::move(ws)) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_.give_back(std::move(ws_)); }
    Workspace& operator*() const { return *ws_; }
    Workspace* operator->() const { return ws_.get(); }

   private:
    WorkspacePool& pool_;
    std::unique_ptr<Workspace> ws_;
  };

  Lease lease() {
    std::unique_ptr<Workspace> ws;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        ws = std::move(free_.back());
        free_.pop_back();
      }
    }
    return Lease(*this, ws ? std::move(ws) : backend_.new_workspace());
  }

 private:
  void give_back(std::unique_ptr<Workspace> ws) {
    ws->reset();
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(ws));
  }

  Backend& backend_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace hearth
