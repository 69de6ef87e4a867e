#include "mmap.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace riverbed {

Mapping map_file(const std::string& path) {
  Mapping m;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    m.error = std::strerror(errno);
    return m;
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    m.error = std::strerror(errno);
    ::close(fd);
    return m;
  }
  if (!S_ISREG(st.st_mode)) {
    m.error = "not a regular file";
    ::close(fd);
    return m;
  }
  m.length = (size_t)st.st_size;
  if (m.length == 0) {
    ::close(fd);
    return m;
  }
  int flags = MAP_PRIVATE;
  bool populate = false;
#ifdef MAP_POPULATE
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0 && m.length <= (size_t)pages * (size_t)page / 4) {
    flags |= MAP_POPULATE;
    populate = true;
  }
#endif
  void* p = ::mmap(nullptr, m.length, PROT_READ, flags, fd, 0);
  const int err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (p == MAP_FAILED) {
    m.error = std::strerror(err);
    m.length = 0;
    return m;
  }
  if (!populate) {  // too big to pre-fault: read ahead as it is streamed
    ::madvise(p, m.length, MADV_SEQUENTIAL);
    ::madvise(p, m.length, MADV_WILLNEED);
  }
#ifdef MADV_HUGEPAGE
  ::madvise(p, m.length, MADV_HUGEPAGE);  // honoured for file mappings only with read-only THP for page cache
#endif
  m.data = p;
  return m;
}

void unmap(void* data, size_t length) {
  if (data && length) ::munmap(data, length);
}

}  // namespace riverbed
