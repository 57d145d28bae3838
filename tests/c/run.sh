#!/usr/bin/env bash
# The C ABI checks (docs/ABI.md "How the ABI is tested"), one step of scripts/test.sh:
#   1. header freshness: regenerate include/switchboard.h with the pinned cbindgen and diff;
#   2. release build of libswitchboard.so / .a;
#   3. symbol hygiene: `nm -D --defined-only` lists exactly ffi/abi/symbols.txt (only sb_*),
#      `readelf -d` shows the SONAME;
#   4. header hygiene: the header alone as strict C11 and as C++17;
#   5. C tests (tests/c/test_api.c + a second TU + a C++ TU, test_events.c, test_http.c,
#      test_owned.c, test_cluster.c against a redis-server and a nats-server it starts) under
#      AddressSanitizer,
#      LeakSanitizer and UBSan, then the same program without sanitizers under valgrind;
#   6. `make install` into $CARGO_TARGET_DIR/c/prefix, then a tiny program built against it with
#      pkg-config (shared and static) and with CMake (shared and static), and run;
#   7. the C chat demo (examples/c/chat.c) built against that installed library with
#      pkg-config into $CARGO_TARGET_DIR/c/chat, where scripts/test.sh runs the browser suite
#      against it; its JSON helpers are tested by tests/c/test_chat_json.c in step 5;
#   8. the C benchmark server (examples/c/bench.c) built the same way into
#      $CARGO_TARGET_DIR/c/bench (bench/run.sh builds its own copy for the sb-c row) and
#      smoke-tested with the stock phoenix client (tests/c/bench_smoke.mjs);
#   9. the C conformance fixture (tests/fixtures/c/conformance_fixture.c) built the same way,
#      with AddressSanitizer + UBSan, into $CARGO_TARGET_DIR/c/conformance_fixture, against
#      which scripts/test.sh runs the conformance and bad-input suites.
# Installs what is missing (valgrind, cmake, redis-server, nats-server with apt-get; cbindgen
# with cargo into .tools/).
# Env: CARGO_TARGET_DIR (default ./target).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
release=$CARGO_TARGET_DIR/release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say() { printf '\n--- %s\n' "$*"; }
fail() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v valgrind >/dev/null || missing+=(valgrind)
command -v cmake >/dev/null || missing+=(cmake)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v g++ >/dev/null || missing+=(g++)
# Debian's clang package (clang-14 on Debian 12): the version is the distribution's.
command -v clang >/dev/null || missing+=(clang)
# test_cluster.c takes SB_REDIS_SERVER / SB_NATS_SERVER, else PATH, else these paths.
[[ -x ${SB_REDIS_SERVER:-$(command -v redis-server || echo /usr/bin/redis-server)} ]] || missing+=(redis-server)
[[ -x ${SB_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)} ]] || missing+=(nats-server)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null || fail "missing ${missing[*]} and apt-get is not available"
  echo "installing ${missing[*]} with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
[[ -d node_modules/phoenix && -d node_modules/ws ]] || npm ci --no-audit --no-fund

say "header freshness (cbindgen 0.29.4)"
tests/c/gen-header.sh --check

say "cargo build --locked --release -p switchboard-ffi"
cargo build --locked --release -p switchboard-ffi
so=$release/libswitchboard.so
[[ -f $so && -f $release/libswitchboard.a ]] || fail "libswitchboard.so/.a not built in $release"

say "exported symbols and SONAME"
nm -D --defined-only "$so" | awk '{print $NF}' | sort > "$work/symbols.txt"
if grep -v '^sb_' "$work/symbols.txt"; then
  fail "libswitchboard.so exports symbols outside sb_* (above)"
fi
if ! diff -u ffi/abi/symbols.txt "$work/symbols.txt"; then
  fail "exported symbols differ from ffi/abi/symbols.txt (update it when adding an export)"
fi
echo "$(wc -l < "$work/symbols.txt") symbols, all sb_*, match ffi/abi/symbols.txt"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
IFS=. read -r major minor _ <<< "$version"
if [[ $major == 0 ]]; then soname=libswitchboard.so.0.$minor; else soname=libswitchboard.so.$major; fi
readelf -d "$so" | grep -F "Library soname: [$soname]" || fail "SONAME is not $soname"

say "header hygiene: strict C11 and C++17"
gcc -std=c11 -Wall -Wextra -Wpedantic -Werror -Wstrict-prototypes -Wconversion \
  -Iinclude -c tests/c/header_only.c -o "$work/header_only.o"
g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -c tests/c/header_cpp.cpp \
  -o "$work/header_cpp_plain.o"
echo "ok"

export SB_WS_CLIENT=$root/tests/c/ws_client.mjs
export SB_WS_HOST_CLIENT=$root/tests/c/ws_host_client.mjs
cflags=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
# The loader looks the library up by its SONAME, which cargo's output file does not carry.
mkdir -p "$work/lib"
ln -s "$so" "$work/lib/libswitchboard.so"
ln -s "$so" "$work/lib/$soname"
link=(-L"$work/lib" -lswitchboard -Wl,-rpath,"$work/lib" -lpthread)

say "C tests under AddressSanitizer + LeakSanitizer + UBSan"
san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
g++ -std=c++17 -Wall -Wextra -Werror -g -Iinclude "${san[@]}" -c tests/c/header_cpp.cpp \
  -o "$work/header_cpp.o"
gcc "${cflags[@]}" "${san[@]}" tests/c/test_api.c tests/c/tu_second.c "$work/header_cpp.o" \
  "${link[@]}" -o "$work/test_api_asan"
gcc "${cflags[@]}" "${san[@]}" tests/c/test_events.c "${link[@]}" -o "$work/test_events_asan"
gcc "${cflags[@]}" "${san[@]}" tests/c/test_http.c "${link[@]}" -o "$work/test_http_asan"
gcc "${cflags[@]}" "${san[@]}" tests/c/test_owned.c "${link[@]}" -o "$work/test_owned_asan"
gcc "${cflags[@]}" "${san[@]}" tests/c/test_cluster.c "${link[@]}" -o "$work/test_cluster_asan"
gcc "${cflags[@]}" "${san[@]}" -Iexamples/c tests/c/test_chat_json.c examples/c/chat_json.c \
  -o "$work/test_chat_json_asan"
for t in test_api test_events test_http test_owned test_cluster test_chat_json; do
  nm "$work/${t}_asan" > "$work/nm.txt"
  grep -q __asan_init "$work/nm.txt" || fail "$t is not instrumented"
  echo "$t:"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout 120 "$work/${t}_asan"
done

say "C tests and C servers built with clang ($(clang --version | head -n1))"
# The same sources under the second compiler with its stricter warnings; test_api and
# test_owned also run under clang's AddressSanitizer + UBSan.
clang_warn=(-Wall -Wextra -Werror -Wno-unused-command-line-argument)
clang++ -std=c++17 "${clang_warn[@]}" -g -Iinclude "${san[@]}" -c tests/c/header_cpp.cpp \
  -o "$work/header_cpp_clang.o"
clang -std=c11 "${clang_warn[@]}" -g -Iinclude "${san[@]}" tests/c/test_api.c tests/c/tu_second.c \
  "$work/header_cpp_clang.o" "${link[@]}" -lstdc++ -o "$work/test_api_clang"
for t in test_events test_http test_owned test_cluster; do
  clang -std=c11 "${clang_warn[@]}" -g -Iinclude "${san[@]}" "tests/c/$t.c" "${link[@]}" \
    -o "$work/${t}_clang"
done
clang -std=c11 "${clang_warn[@]}" -g -Iinclude -Iexamples/c "${san[@]}" tests/c/test_chat_json.c \
  examples/c/chat_json.c -o "$work/test_chat_json_clang"
for server in examples/c/chat.c examples/c/bench.c tests/fixtures/c/conformance_fixture.c; do
  clang -std=c11 "${clang_warn[@]}" -O2 -Iinclude -Iexamples/c "$server" examples/c/host_loop.c \
    examples/c/chat_json.c "${link[@]}" -o "$work/$(basename "$server" .c)_clang"
done
for t in test_api test_owned test_chat_json; do
  echo "$t (clang):"
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    timeout 120 "$work/${t}_clang"
done

say "C tests under valgrind (memcheck, full leak check)"
gcc "${cflags[@]}" -O1 tests/c/test_api.c tests/c/tu_second.c "$work/header_cpp_plain.o" \
  "${link[@]}" -o "$work/test_api"
gcc "${cflags[@]}" -O1 tests/c/test_events.c "${link[@]}" -o "$work/test_events"
gcc "${cflags[@]}" -O1 tests/c/test_http.c "${link[@]}" -o "$work/test_http"
gcc "${cflags[@]}" -O1 tests/c/test_owned.c "${link[@]}" -o "$work/test_owned"
gcc "${cflags[@]}" -O1 tests/c/test_cluster.c "${link[@]}" -o "$work/test_cluster"
for t in test_api test_events test_http test_owned test_cluster; do
  echo "$t:"
  timeout 300 valgrind --quiet --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
    "$work/$t"
done

say "make install + consumers (pkg-config, CMake)"
# Kept after this script: the C chat demo below links it and scripts/test.sh runs that demo.
prefix=$CARGO_TARGET_DIR/c/prefix
rm -rf "$prefix"
make --no-print-directory install PREFIX="$prefix" > "$work/install.log" ||
  { cat "$work/install.log"; fail "make install failed"; }
for f in lib/libswitchboard.so lib/"$soname" lib/libswitchboard.so."$version" \
  lib/libswitchboard.a include/switchboard.h lib/pkgconfig/switchboard.pc \
  lib/cmake/switchboard/switchboardConfig.cmake \
  lib/cmake/switchboard/switchboardConfigVersion.cmake; do
  [[ -e $prefix/$f ]] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
gcc -std=c11 -Wall -Wextra -Werror tests/c/consumer/main.c $(pkg-config --cflags --libs switchboard) \
  -Wl,-rpath,"$prefix/lib" -o "$work/consumer_pc"
readelf -d "$work/consumer_pc" | grep -F "Shared library: [$soname]" ||
  fail "the pkg-config consumer does not depend on $soname"
"$work/consumer_pc"
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -DSB_STATIC tests/c/consumer/main.c \
  $(pkg-config --cflags switchboard) "$prefix/lib/libswitchboard.a" \
  $(pkg-config --libs-only-l --static switchboard | sed 's/-lswitchboard//') -o "$work/consumer_pc_static"
"$work/consumer_pc_static"
cmake -S tests/c/consumer -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release > "$work/cmake.log" ||
  { cat "$work/cmake.log"; fail "cmake configure failed"; }
cmake --build "$work/cmake" > "$work/cmake-build.log" ||
  { cat "$work/cmake-build.log"; fail "cmake build failed"; }
"$work/cmake/consumer_shared"
"$work/cmake/consumer_static"
for want in 0.2 1.0 0.1.99; do
  if cmake -S tests/c/consumer -B "$work/cmake-$want" -DCMAKE_PREFIX_PATH="$prefix" \
    -DSB_WANT="$want" > "$work/cmake-$want.log" 2>&1; then
    fail "find_package(switchboard $want) accepted version $version"
  fi
done
echo "find_package refuses 0.2, 1.0 and 0.1.99 (ABI changes with each 0.x minor)"

say "C chat demo (examples/c/chat.c) built against the installed library"
chat_bin=$CARGO_TARGET_DIR/c/chat
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -O2 examples/c/chat.c examples/c/chat_json.c examples/c/host_loop.c \
  $(pkg-config --cflags --libs switchboard) -Wl,-rpath,"$prefix/lib" -o "$chat_bin"
readelf -d "$chat_bin" | grep -F "Shared library: [$soname]" ||
  fail "the C chat demo does not depend on $soname"
echo "built $chat_bin"

say "C benchmark server (examples/c/bench.c) built against the installed library, smoke test"
bench_bin=$CARGO_TARGET_DIR/c/bench
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -O2 examples/c/bench.c examples/c/host_loop.c examples/c/chat_json.c \
  $(pkg-config --cflags --libs switchboard) -Wl,-rpath,"$prefix/lib" -o "$bench_bin"
timeout 60 node tests/c/bench_smoke.mjs "$bench_bin"

say "C conformance fixture (tests/fixtures/c/conformance_fixture.c), AddressSanitizer + UBSan"
fixture_bin=$CARGO_TARGET_DIR/c/conformance_fixture
# shellcheck disable=SC2046
gcc -std=c11 -Wall -Wextra -Werror -O1 -g "${san[@]}" -Iexamples/c \
  tests/fixtures/c/conformance_fixture.c examples/c/host_loop.c examples/c/chat_json.c \
  $(pkg-config --cflags --libs switchboard) -Wl,-rpath,"$prefix/lib" -lpthread -o "$fixture_bin"
nm "$fixture_bin" > "$work/nm.txt" # not piped into grep -q: pipefail would see nm's SIGPIPE
grep -q __asan_init "$work/nm.txt" || fail "the C conformance fixture is not instrumented"
echo "built $fixture_bin"

echo
echo "C ABI checks passed"
