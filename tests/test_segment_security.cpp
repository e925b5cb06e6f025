// Who may attach to a segment: the owner only, unless the owner shares it on purpose.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/unique_segment.hpp"
#include "telering/core/segment.hpp"

namespace telering {
namespace {

struct Nobody {
  uid_t uid = 0;
  gid_t gid = 0;
  bool found = false;
  Nobody() {
    if (const passwd* pw = ::getpwnam("nobody")) {
      uid = pw->pw_uid;
      gid = pw->pw_gid;
      found = true;
    }
  }
};

// Runs fn in a child process that has become `nobody`; returns fn's exit code.
template <typename Fn>
int run_as_nobody(const Nobody& who, Fn&& fn) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(who.gid) != 0 || ::setuid(who.uid) != 0) ::_exit(90);
    ::_exit(fn());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

TEST(SegmentSecurity, UnprivilegedUserCannotAttachOrWrite) {
  const Nobody nobody;
  if (::geteuid() != 0 || !nobody.found) GTEST_SKIP() << "needs root and a 'nobody' user to switch users";
  test::UniqueSegment seg;
  Segment owner = Segment::open(seg.options(test::small_geometry()));
  const int code = run_as_nobody(nobody, [&] {
    SegmentOptions o = seg.options();
    o.create = false;
    o.trust_other_owner = true;  // even when told to trust, the kernel says no
    try {
      (void)Segment::open(o);
      return 1;  // attached: a failure
    } catch (const SegmentError& e) {
      return std::string(e.what()).find("permission denied") != std::string::npos ? 0 : 2;
    }
  });
  EXPECT_EQ(code, 0) << "1: nobody attached; 2: wrong message";
  // Nor can it open the file for writing directly.
  const int direct = run_as_nobody(nobody, [&] { return ::open(shm_path(seg.name()).c_str(), O_RDWR) < 0 ? 0 : 1; });
  EXPECT_EQ(direct, 0);
}

TEST(SegmentSecurity, SegmentOfAnotherUserIsRefusedUnlessTrusted) {
  const Nobody nobody;
  if (::geteuid() != 0 || !nobody.found) GTEST_SKIP() << "needs root to give a segment to another user";
  test::UniqueSegment seg;
  { Segment created = Segment::open(seg.options(test::small_geometry())); }
  ASSERT_EQ(::chown(shm_path(seg.name()).c_str(), nobody.uid, nobody.gid), 0);
  SegmentOptions o = seg.options();
  try {
    (void)Segment::open(o);
    FAIL() << "attached to a segment of another user";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("owned by uid " + std::to_string(nobody.uid)), std::string::npos) << e.what();
  }
  o.trust_other_owner = true;
  EXPECT_NO_THROW((void)Segment::open(o));
}

TEST(SegmentSecurity, GroupAndModeForASharedBotAccount) {
  const ::group* gr = ::getgrnam("nogroup");
  if (::geteuid() != 0 || gr == nullptr) GTEST_SKIP() << "needs root and the 'nogroup' group to change a segment's group";
  test::UniqueSegment seg;
  SegmentOptions o = seg.options(test::small_geometry());
  o.mode = 0660;
  o.group = "nogroup";
  Segment s = Segment::open(o);
  struct stat st {};
  ASSERT_EQ(::stat(shm_path(seg.name()).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660U);
  EXPECT_EQ(st.st_gid, gr->gr_gid);
}

TEST(SegmentSecurity, UnknownGroupIsAClearError) {
  test::UniqueSegment seg;
  SegmentOptions o = seg.options(test::small_geometry());
  o.group = "no-such-group-telering";
  try {
    (void)Segment::open(o);
    FAIL() << "expected SegmentError";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown group 'no-such-group-telering'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace telering
