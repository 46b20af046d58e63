#include "executable_complete.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "baton/unique_fd.h"

namespace baton {
namespace {

bool read_at(int fd, void* out, std::size_t n, off_t offset) {
  return ::pread(fd, out, n, offset) == static_cast<ssize_t>(n);
}

// The end of the furthest thing an ELF64 file's headers point at.
Result<std::uint64_t> elf64_extent(int fd, off_t size) {
  Elf64_Ehdr eh{};
  if (!read_at(fd, &eh, sizeof eh, 0)) return Status::error("ELF header cut short");
  std::uint64_t end = std::max<std::uint64_t>(eh.e_phoff + std::uint64_t{eh.e_phnum} * eh.e_phentsize,
                                              eh.e_shoff + std::uint64_t{eh.e_shnum} * eh.e_shentsize);
  if (end > static_cast<std::uint64_t>(size)) return end;  // the headers themselves are not all there
  for (unsigned i = 0; i < eh.e_phnum && eh.e_phentsize >= sizeof(Elf64_Phdr); ++i) {
    Elf64_Phdr ph{};
    if (!read_at(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + std::uint64_t{i} * eh.e_phentsize)))
      return Status::error("program header cut short");
    end = std::max<std::uint64_t>(end, ph.p_offset + ph.p_filesz);
  }
  for (unsigned i = 0; i < eh.e_shnum && eh.e_shentsize >= sizeof(Elf64_Shdr); ++i) {
    Elf64_Shdr sh{};
    if (!read_at(fd, &sh, sizeof sh, static_cast<off_t>(eh.e_shoff + std::uint64_t{i} * eh.e_shentsize)))
      return Status::error("section header cut short");
    if (sh.sh_type != SHT_NOBITS) end = std::max<std::uint64_t>(end, sh.sh_offset + sh.sh_size);
  }
  return end;
}

}  // namespace

Status executable_complete(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::from_errno(errno, "open " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Status::from_errno(errno, "stat " + path);
  unsigned char ident[EI_NIDENT] = {};
  const ssize_t n = ::pread(fd.get(), ident, sizeof ident, 0);
  if (n >= 2 && ident[0] == '#' && ident[1] == '!') return Status::ok();
  if (n < static_cast<ssize_t>(sizeof ident) || std::memcmp(ident, ELFMAG, SELFMAG) != 0)
    return Status::error("neither an ELF binary nor a #! script (yet)");
  if (ident[EI_CLASS] != ELFCLASS64) return Status::ok();  // 32-bit: trust the settle time alone
  auto extent = elf64_extent(fd.get(), st.st_size);
  if (!extent) return extent.status();
  if (*extent > static_cast<std::uint64_t>(st.st_size))
    return Status::error("cut short: its headers reach byte " + std::to_string(*extent) + " of " +
                         std::to_string(st.st_size));
  return Status::ok();
}

}  // namespace baton
