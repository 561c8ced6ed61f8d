#if canImport(Glibc)
import Glibc
#endif
import CLibSeccomp

/// Writes the built-in sandbox's classic BPF program directly: a denylist is a
/// few compares, and libseccomp's general compiler (with its kernel probes and
/// its export through a pipe) cost every command a quarter of a millisecond.
/// OCI profiles, whose rules can be anything, still go through libseccomp.
///
/// The program, for the native architecture (x86-64):
///   1. another architecture's ABI (i386 through int 0x80, x32) gets EPERM;
///   2. a binary search on the syscall number down to runs of a few entries;
///      in a run, a number equal to an entry's gets the entry's action
///      (EPERM, ENOSYS, or a check of one argument's low 32 bits: the kernel
///      reads these arguments as int or unsigned int; CVE-2019-10063), and
///      any other number is allowed.
/// An allowed call's path depends on its number alone, so the kernel's
/// per-syscall cache can skip the filter for it entirely.
enum FilterBuilder {
    enum Rule: Equatable {
        /// Fails with this errno, whatever the arguments.
        case fail(Int32)
        /// EPERM when the low 32 bits of argument `arg` equal one of `values`.
        case failIfArgEquals(arg: Int, values: [UInt32])
        /// EPERM when the low 32 bits of argument `arg` share a bit with `mask`.
        case failIfArgHasAny(arg: Int, mask: UInt32)
        /// Stops the call for the supervisor (exec interception).
        case notify
    }

    static let auditArchX86_64: UInt32 = 0xC000_003E
    static let x32SyscallBit: UInt32 = 0x4000_0000
    static let retAllow: UInt32 = 0x7FFF_0000
    static let retUserNotif: UInt32 = 0x7FC0_0000
    static func retErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xFFFF) }

    /// The `ret` value of a rule that needs no argument check; nil for one that does.
    static func plainReturn(_ rule: Rule) -> UInt32? {
        switch rule {
        case .fail(let e): retErrno(e)
        case .notify: retUserNotif
        case .failIfArgEquals, .failIfArgHasAny: nil
        }
    }

    // Classic BPF opcodes (linux/filter.h).
    static let ldAbsW: UInt16 = 0x20
    static let jeqK: UInt16 = 0x15
    static let jgeK: UInt16 = 0x35
    static let jsetK: UInt16 = 0x45
    static let retK: UInt16 = 0x06

    /// Offsets in struct seccomp_data.
    static let nrOffset: UInt32 = 0
    static let archOffset: UInt32 = 4
    static func argLowOffset(_ i: Int) -> UInt32 { 16 + 8 * UInt32(i) }  // little-endian

    struct Instruction: Equatable {
        var code: UInt16
        var jt: UInt8 = 0
        var jf: UInt8 = 0
        var k: UInt32
    }

    /// The program for these rules (ascending, one per syscall number) on x86-64.
    static func program(_ rules: [(nr: Int32, rule: Rule)]) -> [Instruction] {
        let header: [Instruction] = [
            Instruction(code: ldAbsW, k: archOffset),
            Instruction(code: jeqK, jt: 1, jf: 0, k: auditArchX86_64),
            Instruction(code: retK, k: retErrno(EPERM)),
            Instruction(code: ldAbsW, k: nrOffset),
            Instruction(code: jgeK, jt: 0, jf: 1, k: x32SyscallBit),
            Instruction(code: retK, k: retErrno(EPERM)),
        ]
        let entries = rules.map { ($0.nr, $0.rule) }
        return header + (tree(entries[...]) ?? linear(entries[...]))
    }

    /// A short run of entries: one compare each, jumping to a return shared
    /// by the run's plain entries (denials, notifications) or to the entry's own argument check;
    /// anything else is allowed. Every jump stays within the run.
    static func run(_ entries: ArraySlice<(Int32, Rule)>) -> [Instruction] {
        var returns: [UInt32] = []  // the shared `ret` values, after `ret allow`
        var blocks: [[Instruction]] = []
        var targets: [(returnIndex: Int?, blockIndex: Int?)] = []
        for (_, rule) in entries {
            if let k = plainReturn(rule) {
                if !returns.contains(k) { returns.append(k) }
                targets.append((returns.firstIndex(of: k), nil))
            } else {
                blocks.append(action(rule))
                targets.append((nil, blocks.count - 1))
            }
        }
        var p: [Instruction] = []
        let compares = entries.count
        for (i, (nr, _)) in entries.enumerated() {
            // Distance from the instruction after this compare to its target.
            let after = i + 1
            let target: Int
            if let r = targets[i].returnIndex {
                target = compares + 1 + r
            } else {
                target = compares + 1 + returns.count + blocks[..<targets[i].blockIndex!].reduce(0) { $0 + $1.count }
            }
            p.append(Instruction(code: jeqK, jt: UInt8(target - after), jf: 0, k: UInt32(nr)))
        }
        p.append(Instruction(code: retK, k: retAllow))
        for k in returns { p.append(Instruction(code: retK, k: k)) }
        for b in blocks { p += b }
        return p
    }

    static let runLength = 8

    /// A binary search over the entries down to short runs: the kernel runs
    /// the filter once per syscall number when it is loaded (to find the
    /// calls it may skip), and compiles every instruction, so a small,
    /// shallow program loads fastest. nil when a jump would be longer than
    /// classic BPF's 255 (then the entries are one long run of short hops).
    static func tree(_ entries: ArraySlice<(Int32, Rule)>) -> [Instruction]? {
        if entries.count <= runLength { return run(entries) }
        let mid = entries.startIndex + entries.count / 2
        guard let left = tree(entries[..<mid]), let right = tree(entries[mid...]), left.count <= 255 else { return nil }
        return [Instruction(code: jgeK, jt: UInt8(left.count), jf: 0, k: UInt32(entries[mid].0))] + left + right
    }

    /// The fallback for very long deny lists: `nr < n` allows, `nr == n` acts.
    static func linear(_ entries: ArraySlice<(Int32, Rule)>) -> [Instruction] {
        var p: [Instruction] = []
        for (nr, rule) in entries {
            let block = action(rule)
            p.append(Instruction(code: jgeK, jt: 1, jf: 0, k: UInt32(nr)))
            p.append(Instruction(code: retK, k: retAllow))
            p.append(Instruction(code: jeqK, jt: 0, jf: UInt8(block.count), k: UInt32(nr)))
            p += block
        }
        p.append(Instruction(code: retK, k: retAllow))
        return p
    }

    /// An entry's action; every path through it returns (it overwrites the
    /// accumulator, so nothing may fall through to the next entry).
    static func action(_ rule: Rule) -> [Instruction] {
        switch rule {
        case .fail, .notify:
            return [Instruction(code: retK, k: plainReturn(rule)!)]
        case .failIfArgEquals(let arg, let values):
            var b = [Instruction(code: ldAbsW, k: argLowOffset(arg))]
            for v in values {
                b.append(Instruction(code: jeqK, jt: 0, jf: 1, k: v))
                b.append(Instruction(code: retK, k: retErrno(EPERM)))
            }
            b.append(Instruction(code: retK, k: retAllow))
            return b
        case .failIfArgHasAny(let arg, let mask):
            return [
                Instruction(code: ldAbsW, k: argLowOffset(arg)),
                Instruction(code: jsetK, jt: 0, jf: 1, k: mask),
                Instruction(code: retK, k: retErrno(EPERM)),
                Instruction(code: retK, k: retAllow),
            ]
        }
    }

    /// struct sock_filter[], as the kernel takes it.
    static func bytes(_ program: [Instruction]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(program.count * 8)
        for i in program {
            out += [UInt8(i.code & 0xFF), UInt8(i.code >> 8), i.jt, i.jf,
                    UInt8(i.k & 0xFF), UInt8((i.k >> 8) & 0xFF), UInt8((i.k >> 16) & 0xFF), UInt8(i.k >> 24)]
        }
        return out
    }

    /// The native syscall number of `name`; nil for one this architecture
    /// lacks (it cannot be called here anyway); throws for an unknown name.
    static func number(_ name: String) throws(SandboxError) -> Int32? {
        let nr = seccomp_syscall_resolve_name(name)
        guard nr != __NR_SCMP_ERROR else { throw .unknownSyscall(name) }
        return nr < 0 ? nil : nr
    }
}
