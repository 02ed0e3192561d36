// Clang thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html) and the
// annotated mutex they need. With clang and -Wthread-safety (set in the top CMakeLists.txt for
// clang builds; `make thread-safety` checks the annotated files), a member read or written
// without its lock, or a *Locked helper called without it, is a compile error; with GCC the
// macros compile to nothing and Mutex is a plain std::mutex.
//
// libstdc++'s std::mutex and std::lock_guard carry no annotations, so annotated state is guarded
// by continuum::Mutex and locked with MutexLock:
//
//   mutable Mutex mu_;
//   int count_ GUARDED_BY(mu_) = 0;
//   void BumpLocked() REQUIRES(mu_);
//   ...
//   MutexLock lock(mu_);  // lock.Wait(cv), lock.Unlock() / lock.Lock() for a section outside it
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define CONTINUUM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CONTINUUM_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CONTINUUM_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CONTINUUM_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CONTINUUM_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CONTINUUM_THREAD_ANNOTATION(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) CONTINUUM_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) CONTINUUM_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define REQUIRES(...) CONTINUUM_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define ACQUIRE(...) CONTINUUM_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) CONTINUUM_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define EXCLUDES(...) CONTINUUM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) CONTINUUM_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS CONTINUUM_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace continuum {

// std::mutex as a capability the analysis knows.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class MutexLock;
  std::mutex mu_;
};

// Holds a Mutex for its scope (std::unique_lock underneath, so condition variables can wait on it).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.mu_) {}
  ~MutexLock() RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // For a section run without the lock inside the scope.
  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }

  // The lock is released while waiting and held again on return, as with std::condition_variable;
  // WaitUntil says whether the wait ended at `t` (std::cv_status::timeout) or on a notification.
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  template <class ClockT, class Duration>
  std::cv_status WaitUntil(std::condition_variable& cv, std::chrono::time_point<ClockT, Duration> t) {
    return cv.wait_until(lock_, t);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace continuum
