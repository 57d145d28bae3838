# Builds and installs the C library: `make install PREFIX=/opt/switchboard`.
#
#   make            release build of libswitchboard.so / libswitchboard.a (cargo)
#   make install    installs into $(DESTDIR)$(PREFIX): lib/libswitchboard.so.X.Y.Z with its
#                   SONAME and dev symlinks, lib/libswitchboard.a, include/switchboard.h,
#                   lib/pkgconfig/switchboard.pc and lib/cmake/switchboard/ (CMake package)
#   make header     regenerates include/switchboard.h (pinned cbindgen)
#   make check-c    the C ABI checks (tests/c/run.sh)
#
# Honours CARGO_TARGET_DIR, PREFIX, LIBDIR, INCLUDEDIR and DESTDIR.

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
CARGO ?= cargo
CARGO_TARGET_DIR ?= $(CURDIR)/target
export CARGO_TARGET_DIR

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
# Same rule as ffi/build.rs: 0.x releases carry the minor in the SONAME.
SONAME := $(if $(filter 0,$(MAJOR)),libswitchboard.so.0.$(MINOR),libswitchboard.so.$(MAJOR))
# What the static library needs besides libc (`rustc --print native-static-libs` on Linux).
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl
RELEASE := $(CARGO_TARGET_DIR)/release

SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
	-e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' -e 's|@SONAME@|$(SONAME)|g' \
	-e 's|@NATIVE_LIBS@|$(NATIVE_LIBS)|g' \
	-e 's|@CMAKE_NATIVE_LIBS@|$(subst $(eval) ,;,$(patsubst -l%,%,$(NATIVE_LIBS)))|g'

.PHONY: all build install header check-c

all: build

build:
	$(CARGO) build --locked --release -p switchboard-ffi

install: build
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/cmake/switchboard $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(RELEASE)/libswitchboard.so $(DESTDIR)$(LIBDIR)/libswitchboard.so.$(VERSION)
	ln -sf libswitchboard.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libswitchboard.so
	install -m 644 $(RELEASE)/libswitchboard.a $(DESTDIR)$(LIBDIR)/libswitchboard.a
	install -m 644 include/switchboard.h $(DESTDIR)$(INCLUDEDIR)/switchboard.h
	$(SUBST) ffi/pkg/switchboard.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/switchboard.pc
	$(SUBST) ffi/pkg/switchboardConfig.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/switchboard/switchboardConfig.cmake
	$(SUBST) ffi/pkg/switchboardConfigVersion.cmake.in > $(DESTDIR)$(LIBDIR)/cmake/switchboard/switchboardConfigVersion.cmake

header:
	tests/c/gen-header.sh

check-c:
	tests/c/run.sh
