// Reading the CPU's cache sizes: sysconf, then /sys, then defaults (see cpu_caches.h).
#include "cpu_caches.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

namespace minidl {
namespace {

// sysconf(name), 0 when the answer is not positive
long sysconf_or_0(int name) {
  const long v = ::sysconf(name);
  return v > 0 ? v : 0;
}

bool read_line(const std::string& path, std::string* out) {
  std::ifstream f(path);
  return static_cast<bool>(std::getline(f, *out));
}

// "48K", "2048K", "1M", "32768" -> bytes (0 when unreadable)
int64_t parse_size(const std::string& s) {
  std::istringstream in(s);
  int64_t v = 0;
  char unit = 0;
  if (!(in >> v) || v <= 0) return 0;
  in >> unit;
  if (unit == 'K' || unit == 'k') v <<= 10;
  if (unit == 'M' || unit == 'm') v <<= 20;
  if (unit == 'G' || unit == 'g') v <<= 30;
  return v;
}

// "0-1", "0,2,4-7" -> how many CPUs (at least 1)
int count_cpus(const std::string& list) {
  int n = 0;
  std::istringstream in(list);
  std::string part;
  while (std::getline(in, part, ',')) {
    const auto dash = part.find('-');
    if (dash == std::string::npos)
      n += !part.empty();
    else
      n += std::atoi(part.c_str() + dash + 1) - std::atoi(part.c_str()) + 1;
  }
  return n > 0 ? n : 1;
}

// the data / unified caches of levels 1-3 from /sys; returns whether any size was found
bool read_sysfs(CpuCaches* c) {
  bool any = false;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::string level, type, text;
    if (!read_line(dir + "level", &level) || !read_line(dir + "type", &type)) break;
    if (type == "Instruction") continue;
    CacheLevel* l = level == "1" ? &c->l1d : level == "2" ? &c->l2 : level == "3" ? &c->l3 : nullptr;
    if (!l) continue;
    if (read_line(dir + "size", &text) && parse_size(text) > 0) l->size = parse_size(text), any = true;
    if (read_line(dir + "ways_of_associativity", &text)) l->ways = std::max(0, std::atoi(text.c_str()));
    if (read_line(dir + "coherency_line_size", &text)) l->line = std::max(0, std::atoi(text.c_str()));
    if (read_line(dir + "shared_cpu_list", &text)) l->shared_by = count_cpus(text);
  }
  return any;
}

// a field that no source gave takes `d`'s
void fill_missing(CacheLevel* l, const CacheLevel& d) {
  if (l->size <= 0) l->size = d.size, l->shared_by = d.shared_by;
  if (l->ways <= 0) l->ways = d.ways;
  if (l->line <= 0) l->line = d.line;
  if (l->shared_by <= 0) l->shared_by = 1;
}

}  // namespace

CpuCaches default_cpu_caches() {
  CpuCaches c;
  const long cpus = sysconf_or_0(_SC_NPROCESSORS_ONLN);
  c.l1d = {int64_t(32) << 10, 8, 64, 1};
  c.l2 = {int64_t(1) << 20, 16, 64, 1};
  c.l3 = {int64_t(8) << 20, 16, 64, static_cast<int>(cpus > 0 ? cpus : 1)};
  c.source = "default";
  return c;
}

CpuCaches read_cpu_caches() {
  CpuCaches c;
  bool from_sysconf = false;
#if defined(_SC_LEVEL1_DCACHE_SIZE) && defined(_SC_LEVEL2_CACHE_SIZE) && defined(_SC_LEVEL3_CACHE_SIZE)
  const int names[3][3] = {{_SC_LEVEL1_DCACHE_SIZE, _SC_LEVEL1_DCACHE_ASSOC, _SC_LEVEL1_DCACHE_LINESIZE},
                           {_SC_LEVEL2_CACHE_SIZE, _SC_LEVEL2_CACHE_ASSOC, _SC_LEVEL2_CACHE_LINESIZE},
                           {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL3_CACHE_ASSOC, _SC_LEVEL3_CACHE_LINESIZE}};
  CacheLevel* levels[3] = {&c.l1d, &c.l2, &c.l3};
  for (int i = 0; i < 3; ++i) {
    levels[i]->size = sysconf_or_0(names[i][0]);
    levels[i]->ways = static_cast<int>(sysconf_or_0(names[i][1]));
    levels[i]->line = static_cast<int>(sysconf_or_0(names[i][2]));
    from_sysconf |= levels[i]->size > 0;
  }
#endif
  CpuCaches fs;
  const bool from_sysfs = read_sysfs(&fs);
  for (auto [mine, theirs] : {std::pair{&c.l1d, &fs.l1d}, std::pair{&c.l2, &fs.l2}, std::pair{&c.l3, &fs.l3}}) {
    if (mine->size <= 0) mine->size = theirs->size;
    if (mine->ways <= 0) mine->ways = theirs->ways;
    if (mine->line <= 0) mine->line = theirs->line;
    mine->shared_by = theirs->shared_by;
  }
  const CpuCaches d = default_cpu_caches();
  fill_missing(&c.l1d, d.l1d);
  fill_missing(&c.l2, d.l2);
  fill_missing(&c.l3, d.l3);
  c.source = from_sysconf && from_sysfs ? "sysconf+sysfs" : from_sysconf ? "sysconf" : from_sysfs ? "sysfs" : "default";
  return c;
}

const CpuCaches& cpu_caches() {
  static const CpuCaches c = read_cpu_caches();
  return c;
}

}  // namespace minidl
