import Foundation
import Testing
import CLibSeccomp
import CAegisSpawn
@testable import AegisPolicy
@testable import AegisRuntime

/// The built-in filter is written by hand; libseccomp, given the same rules,
/// is the reference. Both programs are run in a classic-BPF interpreter over
/// every syscall number, foreign architectures, and the argument values the
/// rules look at: they must answer alike everywhere. (The kernel tests in
/// SandboxTests then show the hand-written program doing it for real.)
@Suite struct FilterBuilderTests {
    static let x86_64: UInt32 = 0xC000_003E, i386: UInt32 = 0x4000_0003, aarch64: UInt32 = 0xC000_00B7

    struct Input {
        var nr: UInt32
        var arch: UInt32
        var args: [UInt64] = [0, 0, 0, 0, 0, 0]

        func word(at offset: UInt32) -> UInt32? {
            switch offset {
            case 0: return nr
            case 4: return arch
            case 8, 12: return 0  // instruction pointer
            case 16..<64 where offset % 4 == 0:
                let a = args[Int(offset - 16) / 8]
                return offset % 8 == 0 ? UInt32(truncatingIfNeeded: a) : UInt32(truncatingIfNeeded: a >> 32)
            default: return nil
            }
        }
    }

    /// Runs a struct sock_filter[] as the kernel's seccomp would; nil on an
    /// instruction seccomp would reject or that falls off the end.
    static func run(_ program: [UInt8], _ input: Input) -> UInt32? {
        let n = program.count / 8
        func at(_ i: Int) -> (code: UInt16, jt: Int, jf: Int, k: UInt32) {
            let b = Array(program[(8 * i)..<(8 * i + 8)])
            return (UInt16(b[0]) | UInt16(b[1]) << 8, Int(b[2]), Int(b[3]),
                    UInt32(b[4]) | UInt32(b[5]) << 8 | UInt32(b[6]) << 16 | UInt32(b[7]) << 24)
        }
        var a: UInt32 = 0, x: UInt32 = 0
        var mem = [UInt32](repeating: 0, count: 16)
        var pc = 0
        while pc < n {
            let i = at(pc)
            pc += 1
            switch i.code {
            case 0x20: guard let w = input.word(at: i.k) else { return nil }; a = w  // ld [k]
            case 0x00: a = i.k  // ld #k
            case 0x01: x = i.k  // ldx #k
            case 0x60: a = mem[Int(i.k) & 15]  // ld M[k]
            case 0x61: x = mem[Int(i.k) & 15]  // ldx M[k]
            case 0x02: mem[Int(i.k) & 15] = a  // st M[k]
            case 0x03: mem[Int(i.k) & 15] = x  // stx M[k]
            case 0x54: a &= i.k  // and #k
            case 0x5C: a &= x
            case 0x44: a |= i.k
            case 0x07: x = a  // tax
            case 0x87: a = x  // txa
            case 0x05: pc += Int(i.k)  // ja
            case 0x15: pc += a == i.k ? i.jt : i.jf
            case 0x25: pc += a > i.k ? i.jt : i.jf
            case 0x35: pc += a >= i.k ? i.jt : i.jf
            case 0x45: pc += a & i.k != 0 ? i.jt : i.jf
            case 0x1D: pc += a == x ? i.jt : i.jf
            case 0x2D: pc += a > x ? i.jt : i.jf
            case 0x3D: pc += a >= x ? i.jt : i.jf
            case 0x06: return i.k  // ret #k
            case 0x16: return a  // ret a
            default: return nil
            }
        }
        return nil
    }

    /// The same rules, compiled by libseccomp (as the built-in filter was before).
    static func reference(_ sandbox: EffectiveSandbox) throws -> [UInt8] {
        let ctx = try #require(seccomp_init(SCMP_ACT_ALLOW))
        defer { seccomp_release(ctx) }
        #expect(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, aegis_scmp_act_eperm()) == 0)
        for (nr, rule) in try SeccompCompiler.rules(for: sandbox) {
            switch rule {
            case .fail(let e):
                #expect((e == EPERM ? aegis_scmp_deny(ctx, nr) : aegis_scmp_enosys(ctx, nr)) == 0)
            case .failIfArgEquals(1, let values):
                #expect(nr == seccomp_syscall_resolve_name("ioctl"))
                for v in values { #expect(aegis_scmp_deny_ioctl(ctx, v) == 0) }
            case .failIfArgEquals(0, let values):
                #expect(nr == seccomp_syscall_resolve_name("socket"))
                for v in values { #expect(aegis_scmp_deny_socket_family(ctx, Int32(v)) == 0) }
            case .failIfArgHasAny(0, let mask):
                #expect(nr == seccomp_syscall_resolve_name("clone"))
                for bit in 0..<32 where mask & (1 << bit) != 0 { #expect(aegis_scmp_deny_clone_flag(ctx, 1 << UInt64(bit)) == 0) }
            default:
                Issue.record("no reference for \(rule)")
            }
        }
        return try SeccompCompiler.export(ctx).program
    }

    static func inputs() -> [Input] {
        var out: [Input] = []
        for arch in [x86_64, i386, aarch64] {
            for nr in UInt32(0)..<480 { out.append(Input(nr: nr, arch: arch)) }
            for nr in [0x4000_0000, 0x4000_0000 + 59, 0x4000_0000 + 520, 0xFFFF_FFFF] as [UInt32] { out.append(Input(nr: nr, arch: arch)) }
        }
        let tiocsti = UInt64(aegis_tiocsti())
        for v in [0, tiocsti, tiocsti | 1 << 32, tiocsti | 0xFFFF_FFFF_0000_0000, tiocsti + 1, 0x5401] as [UInt64] {
            out.append(Input(nr: 16, arch: x86_64, args: [3, v, 0, 0, 0, 0]))
        }
        for v in [0, 1, 2, 10, 16, 17, 2 | 1 << 32, 3, 0xFFFF_FFFF] as [UInt64] {
            out.append(Input(nr: 41, arch: x86_64, args: [v, 1, 0, 0, 0, 0]))
        }
        var cloneArgs: [UInt64] = [0, 0x11, 0x3D0F00, 1 << 32, 0xFFFF_FFFF_0000_0000]
        for f in SeccompCompiler.cloneNamespaceFlags { cloneArgs += [f, f | 0x11, f | 1 << 40] }
        for v in cloneArgs { out.append(Input(nr: 56, arch: x86_64, args: [v, 0, 0, 0, 0, 0])) }
        return out
    }

    static let sandboxes: [[SandboxSpec]] = [
        [SandboxSpec()],
        [SandboxSpec(profile: .strict)],
        [SandboxSpec(profile: .strict, network: true)],
        [SandboxSpec(network: false)],
        [SandboxSpec(profile: SandboxSpec.Profile.none, deny: ["ptrace", "@mount"])],
        [SandboxSpec(profile: SandboxSpec.Profile.none, network: false)],
        [SandboxSpec(deny: ["ioctl", "clone", "clone3", "socket"], intercept: false), SandboxSpec(network: false)],
    ]

    @Test(arguments: sandboxes.indices)
    func answersAsLibseccompDoesEverywhere(_ index: Int) throws {
        let sandbox = try EffectiveSandbox.combine(Self.sandboxes[index])
        let ours = try #require(try SeccompCompiler.compile(sandbox)).program
        let theirs = try Self.reference(sandbox)
        let eperm: UInt32 = 0x0005_0000 | UInt32(EPERM)
        for input in Self.inputs() {
            let a = Self.run(ours, input)
            var b = Self.run(theirs, input)
            // Where libseccomp is weaker, ours must refuse: socket() reads its
            // family as an int, so AF_INET with high bits set is AF_INET (the
            // reference compares all 64 bits and lets it through); and syscall
            // number -1, which libseccomp passes, is a foreign-ABI number here.
            if input.arch == Self.x86_64 && input.nr == 41 && input.args[0] >> 32 != 0 && sandbox.noNetwork
                && [2, 10, 16, 17].contains(input.args[0] & 0xFFFF_FFFF) && !sandbox.denied.contains("socket") {
                b = eperm
            }
            if input.arch == Self.x86_64 && input.nr == 0xFFFF_FFFF { b = eperm }
            #expect(a != nil)
            #expect(a == b, "nr \(input.nr) arch \(String(input.arch, radix: 16)) args \(input.args): ours \(a.map { String($0, radix: 16) } ?? "-"), libseccomp \(b.map { String($0, radix: 16) } ?? "-")")
        }
    }

    @Test func theDefaultProfileRefusesWhatItShouldAndAllowsTheRest() throws {
        let p = try #require(try SeccompCompiler.compile(try EffectiveSandbox.combine([SandboxSpec()]))).program
        let eperm: UInt32 = 0x0005_0000 | UInt32(EPERM), allow: UInt32 = 0x7FFF_0000
        func nr(_ name: String) -> UInt32 { UInt32(seccomp_syscall_resolve_name(name)) }
        #expect(Self.run(p, Input(nr: nr("ptrace"), arch: Self.x86_64)) == eperm)
        #expect(Self.run(p, Input(nr: nr("mount"), arch: Self.x86_64)) == eperm)
        #expect(Self.run(p, Input(nr: nr("read"), arch: Self.x86_64)) == allow)
        #expect(Self.run(p, Input(nr: nr("execve"), arch: Self.x86_64)) == allow)
        #expect(Self.run(p, Input(nr: 11, arch: Self.i386)) == eperm)  // i386 execve
        #expect(Self.run(p, Input(nr: 0x4000_0000 + 59, arch: Self.x86_64)) == eperm)  // x32 execve
        #expect(Self.run(p, Input(nr: nr("clone3"), arch: Self.x86_64)) == 0x0005_0000 | UInt32(ENOSYS))
        let tiocsti = UInt64(aegis_tiocsti())
        #expect(Self.run(p, Input(nr: nr("ioctl"), arch: Self.x86_64, args: [0, tiocsti | 1 << 32, 0, 0, 0, 0])) == eperm)
        #expect(Self.run(p, Input(nr: nr("ioctl"), arch: Self.x86_64, args: [0, 0x5401, 0, 0, 0, 0])) == allow)
        #expect(Self.run(p, Input(nr: nr("clone"), arch: Self.x86_64, args: [0x1000_0000 | 0x11, 0, 0, 0, 0, 0])) == eperm)
        #expect(Self.run(p, Input(nr: nr("clone"), arch: Self.x86_64, args: [0x11, 0, 0, 0, 0, 0])) == allow)
        #expect(p.count / 8 < 4096)
    }

    /// With exec interception folded in, the one filter stops execve and
    /// execveat for the supervisor and answers everything else exactly as the
    /// filter without it; a denied exec stays denied, and other ABIs' execs
    /// are refused, not stopped.
    @Test(arguments: sandboxes.indices)
    func notifyingExecsChangesOnlyTheExecs(_ index: Int) throws {
        let sandbox = try EffectiveSandbox.combine(Self.sandboxes[index])
        let plain = try #require(try SeccompCompiler.compile(sandbox)).program
        let notifying = try #require(try SeccompCompiler.compile(sandbox, notifyingExecs: true))
        #expect(notifying.notifiesExecs)
        let execs = [UInt32(seccomp_syscall_resolve_name("execve")), UInt32(seccomp_syscall_resolve_name("execveat"))]
        let notify: UInt32 = 0x7FC0_0000, eperm: UInt32 = 0x0005_0000 | UInt32(EPERM)
        for input in Self.inputs() {
            let expected = input.arch == Self.x86_64 && execs.contains(input.nr) ? notify : Self.run(plain, input)
            #expect(Self.run(notifying.program, input) == expected, "nr \(input.nr) arch \(String(input.arch, radix: 16))")
        }
        let denied = try EffectiveSandbox.combine(Self.sandboxes[index] + [SandboxSpec(deny: ["execveat"])])
        let p = try #require(try SeccompCompiler.compile(denied, notifyingExecs: true)).program
        #expect(Self.run(p, Input(nr: execs[1], arch: Self.x86_64)) == eperm)
        #expect(Self.run(p, Input(nr: execs[0], arch: Self.x86_64)) == notify)
        #expect(Self.run(p, Input(nr: 11, arch: Self.i386)) == eperm)
    }

    /// The separate notification filter (a gate that may be nested, or a
    /// sandbox with no built-in filter): the two execs stop for the
    /// supervisor, every other native call passes, and other ABIs, x32
    /// numbers included, are refused (the supervisor reads 8-byte argv slots).
    @Test func theSeparateNotificationFilterStopsExecsAndRefusesOtherABIs() {
        var count: Int32 = 0
        let raw = aegis_notify_program(&count)!
        let p = Array(UnsafeRawBufferPointer(start: raw, count: Int(count) * 8))
        let notify: UInt32 = 0x7FC0_0000, eperm: UInt32 = 0x0005_0000 | UInt32(EPERM), allow: UInt32 = 0x7FFF_0000
        for input in Self.inputs() {
            let expected: UInt32
            if input.arch != Self.x86_64 || input.nr >= 0x4000_0000 {
                expected = eperm
            } else if input.nr == UInt32(aegis_nr_execve) || input.nr == UInt32(aegis_nr_execveat) {
                expected = notify
            } else {
                expected = allow
            }
            #expect(Self.run(p, input) == expected, "nr \(input.nr) arch \(String(input.arch, radix: 16))")
        }
        #expect(Self.run(p, Input(nr: 0x4000_0000 + 520, arch: Self.x86_64)) == eperm)  // x32 execve
        #expect(Self.run(p, Input(nr: 0x4000_0000 + 545, arch: Self.x86_64)) == eperm)  // x32 execveat
    }

    /// The default profile's filter is written out in the source; it must be
    /// what FilterBuilder makes of the profile, and the gate must use it.
    @Test(arguments: [false, true])
    func theWrittenOutDefaultFilterIsWhatTheBuilderMakes(_ notifying: Bool) throws {
        let sandbox = try EffectiveSandbox.combine([SandboxSpec()])
        let built = FilterBuilder.bytes(FilterBuilder.program(try SeccompCompiler.rules(for: sandbox, notifyingExecs: notifying)))
        let written = notifying ? BuiltinFilters.standardNotifying : BuiltinFilters.standard
        #expect(written == built, "replace BuiltinFilters.\(notifying ? "standardNotifying" : "standard") with [\(built.map { "0x" + String($0, radix: 16) }.joined(separator: ", "))]")
        #expect(try SeccompCompiler.compile(sandbox, notifyingExecs: notifying)?.program == built)
    }

    /// A deny list too long for the binary search's 8-bit jumps falls back to
    /// one long run, and still means the same.
    @Test(arguments: [10, 100, 300, 440])
    func anyNumberOfRulesStillMeansTheSame(_ count: Int) {
        var rules: [Int32: FilterBuilder.Rule] = [:]
        for nr in 0..<Int32(count) where nr % 7 != 3 { rules[nr] = nr % 5 == 0 ? .fail(ENOSYS) : .fail(EPERM) }
        rules[16] = .failIfArgEquals(arg: 1, values: [0x5412])
        let p = FilterBuilder.bytes(FilterBuilder.program(rules.keys.sorted().map { ($0, rules[$0]!) }))
        #expect(p.count / 8 < 4096)
        for nr in UInt32(0)..<480 {
            let expected: UInt32
            switch rules[Int32(nr)] {
            case .fail(let e)?: expected = 0x0005_0000 | UInt32(e)
            case .some: expected = 0x7FFF_0000  // arguments 0: the check does not match
            case nil: expected = 0x7FFF_0000
            }
            #expect(Self.run(p, Input(nr: nr, arch: Self.x86_64)) == expected, "nr \(nr) of \(count)")
        }
        #expect(Self.run(p, Input(nr: 16, arch: Self.x86_64, args: [0, 0x5412, 0, 0, 0, 0])) == 0x0005_0000 | UInt32(EPERM))
    }

    @Test func anUnknownSyscallNameIsAnError() {
        #expect(throws: SandboxError.unknownSyscall("no_such_call")) {
            try SeccompCompiler.compile(try EffectiveSandbox.combine([SandboxSpec(deny: ["no_such_call", "zzz_other"])]))
        }
    }
}
