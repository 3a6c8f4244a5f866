// Which server a thread belongs to. Each thread a server starts (reactors,
// workers, the waker, the control thread) marks itself with its
// server's token, so that a call a server's own thread must not make is
// caught instead of deadlocking: HttpServer::Stop() from a handler would
// wait for the very thread it runs on.
#ifndef BRISK_SERVER_SERVER_THREAD_H_
#define BRISK_SERVER_SERVER_THREAD_H_

namespace brisk::internal {

// The token of the server this thread belongs to (the address of its
// ServerMetrics, one per server), or null on any other thread.
inline thread_local const void* current_server_thread = nullptr;

}  // namespace brisk::internal

#endif  // BRISK_SERVER_SERVER_THREAD_H_
