// Replays every corpus file named in argv (a directory: every file in it) through
// LLVMFuzzerTestOneInput, so fuzz targets run as ordinary tests with any
// compiler and sanitizer. Each input is copied into an exactly sized heap
// buffer, so an over-read is caught by ASan.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CORPUS_FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  int count = 0;
  auto replay = [&count](const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
    auto buf = std::make_unique<uint8_t[]>(bytes.size());
    std::memcpy(buf.get(), bytes.data(), bytes.size());
    LLVMFuzzerTestOneInput(buf.get(), bytes.size());
    ++count;
  };
  for (int i = 1; i < argc; ++i) {
    if (!std::filesystem::is_directory(argv[i])) {
      replay(argv[i]);
      continue;
    }
    for (const auto& entry : std::filesystem::recursive_directory_iterator(argv[i])) {
      if (entry.is_regular_file()) replay(entry.path());
    }
  }
  std::printf("replayed %d corpus inputs\n", count);
  return count > 0 ? 0 : 1;
}
