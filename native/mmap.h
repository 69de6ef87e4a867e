// Read-only file mapping for large .npy inputs: no copy, no fresh anonymous memory to fault in.
#pragma once
#include <cstddef>
#include <string>

namespace riverbed {

struct Mapping {
  void* data = nullptr;  // nullptr for an empty file
  size_t length = 0;
  std::string error;  // set on failure
};

// Maps `path` PROT_READ/MAP_PRIVATE, asks for hugepages where the kernel supports them for file
// mappings, and pre-faults the page tables (MAP_POPULATE) when the file is
// small next to physical memory (from a warm page cache that is far faster than 4 KiB faults);
// a larger file gets MADV_SEQUENTIAL + MADV_WILLNEED instead.
Mapping map_file(const std::string& path);
void unmap(void* data, size_t length);

}  // namespace riverbed
