#include "net/io_buffer.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "net/socket.h"
#include "net/testing/socket_pair.h"

namespace brisk::net {
namespace {

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

TEST(IoBufferTest, AppendConsumeAndRewind) {
  IoBuffer buf({.initial_capacity = 8, .max_capacity = 64});
  EXPECT_TRUE(buf.empty());
  EXPECT_TRUE(buf.Append("hello "));
  EXPECT_TRUE(buf.Append("world"));
  EXPECT_EQ(buf.readable(), "hello world");
  buf.Consume(6);
  EXPECT_EQ(buf.readable(), "world");
  buf.Consume(100);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.readable(), "");
}

TEST(IoBufferTest, GrowsToTheLimitAndRefusesBeyond) {
  IoBuffer buf({.initial_capacity = 4, .max_capacity = 16});
  EXPECT_TRUE(buf.Append("0123456789"));
  EXPECT_LE(buf.capacity(), 16u);
  EXPECT_TRUE(buf.Append("abcdef"));
  EXPECT_EQ(buf.size(), 16u);
  EXPECT_FALSE(buf.Append("x"));
  EXPECT_EQ(buf.readable(), "0123456789abcdef");
}

TEST(IoBufferTest, CompactsInsteadOfReallocating) {
  IoBuffer buf({.initial_capacity = 16, .max_capacity = 16});
  ASSERT_TRUE(buf.Append("0123456789abcdef"));
  buf.Consume(10);
  const char* before = buf.readable().data() - 10;
  ASSERT_TRUE(buf.Append("ghijklmnop"));  // fits only after compaction
  EXPECT_EQ(buf.readable(), "abcdefghijklmnop");
  EXPECT_EQ(buf.readable().data(), before);  // same memory, moved to front
  EXPECT_EQ(buf.capacity(), 16u);
}

TEST(IoBufferTest, PrepareWriteAndCommit) {
  IoBuffer buf({.initial_capacity = 8, .max_capacity = 32});
  absl::Span<char> tail = buf.PrepareWrite(20);
  ASSERT_GE(tail.size(), 20u);
  std::memcpy(tail.data(), "abc", 3);
  buf.Commit(3);
  EXPECT_EQ(buf.readable(), "abc");
  EXPECT_TRUE(buf.PrepareWrite(100).empty());
}

TEST(IoBufferTest, ReadUntilEagainThenEof) {
  SocketPair p;
  const std::string data = Pattern(10000);
  ASSERT_EQ(write(p.b.get(), data.data(), data.size()), 10000);
  IoBuffer buf({.initial_capacity = 512, .max_capacity = 1 << 20});
  IoBuffer::ReadResult r = buf.ReadFrom(p.a.get());
  EXPECT_EQ(r.status, IoBuffer::kWouldBlock);
  EXPECT_EQ(r.bytes, 10000u);
  EXPECT_EQ(buf.readable(), data);
  p.b.reset();
  r = buf.ReadFrom(p.a.get());
  EXPECT_EQ(r.status, IoBuffer::kEof);
  EXPECT_EQ(r.bytes, 0u);
}

TEST(IoBufferTest, ShortReadEndsTheCallWhenAsked) {
  SocketPair p;
  const std::string data = Pattern(100);
  ASSERT_EQ(write(p.b.get(), data.data(), data.size()), 100);
  IoBuffer buf({.initial_capacity = 512, .max_capacity = 1 << 20});
  // One read() of 100 < 512 bytes: done, without the read() saying EAGAIN
  // (a later write shows the data was not consumed by a hidden read).
  IoBuffer::ReadResult r = buf.ReadFrom(p.a.get(), 1 << 20, true);
  EXPECT_EQ(r.status, IoBuffer::kWouldBlock);
  EXPECT_EQ(r.bytes, 100u);
  ASSERT_EQ(write(p.b.get(), data.data(), 10), 10);
  r = buf.ReadFrom(p.a.get(), 1 << 20, true);
  EXPECT_EQ(r.bytes, 10u);
  // A read that fills the room continues to the next one.
  const std::string big = Pattern(3000);
  ASSERT_EQ(write(p.b.get(), big.data(), big.size()), 3000);
  IoBuffer small({.initial_capacity = 1000, .max_capacity = 1 << 20});
  r = small.ReadFrom(p.a.get(), 1 << 20, true);
  EXPECT_EQ(r.bytes, 3000u);
  EXPECT_EQ(small.readable(), big);
}

TEST(IoBufferTest, ReadStopsAtPerCallCapAndAtBufferLimit) {
  SocketPair p;
  const std::string data = Pattern(3000);
  ASSERT_EQ(write(p.b.get(), data.data(), data.size()), 3000);
  IoBuffer buf({.initial_capacity = 256, .max_capacity = 2048});
  IoBuffer::ReadResult r = buf.ReadFrom(p.a.get(), 1000);
  EXPECT_EQ(r.status, IoBuffer::kCapReached);
  EXPECT_EQ(r.bytes, 1000u);
  r = buf.ReadFrom(p.a.get());
  EXPECT_EQ(r.status, IoBuffer::kBufferFull);
  EXPECT_EQ(r.bytes, 1048u);
  EXPECT_EQ(buf.readable(), data.substr(0, 2048));
  buf.Consume(2048);
  r = buf.ReadFrom(p.a.get());
  EXPECT_EQ(r.status, IoBuffer::kWouldBlock);
  EXPECT_EQ(buf.readable(), data.substr(2048));
}

TEST(IoBufferTest, ReadErrorReported) {
  IoBuffer buf;
  IoBuffer::ReadResult r = buf.ReadFrom(-1);
  EXPECT_EQ(r.status, IoBuffer::kError);
  EXPECT_EQ(r.error, EBADF);
}

// Fill the socketpair until the kernel says EAGAIN, then drain the peer and
// finish: partial writes must neither lose nor duplicate bytes.
TEST(IoBufferTest, PartialWritesWithEagain) {
  SocketPair p;
  int small = 4096;
  setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  const std::string data = Pattern(1 << 20);
  IoBuffer out({.initial_capacity = 4096, .max_capacity = 2 << 20});
  ASSERT_TRUE(out.Append(data));
  IoBuffer::WriteResult w = out.WriteTo(p.a.get());
  EXPECT_TRUE(w.would_block);
  EXPECT_EQ(w.error, 0);
  EXPECT_GT(w.bytes, 0u);
  EXPECT_LT(w.bytes, data.size());
  EXPECT_EQ(out.size(), data.size() - w.bytes);

  IoBuffer in({.initial_capacity = 4096, .max_capacity = 2 << 20});
  size_t written = w.bytes;
  int rounds = 0;
  while (!out.empty()) {
    ASSERT_LT(++rounds, 100000);
    IoBuffer::ReadResult r = in.ReadFrom(p.b.get());
    ASSERT_NE(r.status, IoBuffer::kError);
    w = out.WriteTo(p.a.get());
    ASSERT_EQ(w.error, 0);
    written += w.bytes;
  }
  EXPECT_EQ(written, data.size());
  while (in.size() < data.size()) {
    ASSERT_EQ(in.ReadFrom(p.b.get()).status, IoBuffer::kWouldBlock);
  }
  EXPECT_EQ(in.readable(), data);
}

TEST(IoBufferTest, WriteToClosedPeerIsEpipeWithoutSignal) {
  SocketPair p;
  p.b.reset();
  IoBuffer out;
  ASSERT_TRUE(out.Append("x"));
  IoBuffer::WriteResult w = out.WriteTo(p.a.get());  // no SIGPIPE kills us
  EXPECT_EQ(w.error, EPIPE);
  EXPECT_FALSE(w.would_block);
  EXPECT_EQ(out.size(), 1u);
}

TEST(IoBufferTest, WriteToPipeFallsBackToWrite) {
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK), 0);
  UniqueFd r(fds[0]), wfd(fds[1]);
  IoBuffer out;
  ASSERT_TRUE(out.Append("pipe data"));
  IoBuffer::WriteResult w = out.WriteTo(wfd.get());
  EXPECT_EQ(w.error, 0);
  EXPECT_EQ(w.bytes, 9u);
  IoBuffer in;
  in.ReadFrom(r.get());
  EXPECT_EQ(in.readable(), "pipe data");
}

}  // namespace
}  // namespace brisk::net
