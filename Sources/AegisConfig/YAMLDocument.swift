import AegisPolicy
import CLibYAML

/// A parsed YAML document: nodes in an arena, with 1-based positions. An alias
/// is stored as a reference to its anchored node, so a document never grows
/// when read; its expanded size is tracked so alias bombs are refused.
public struct YAMLDocument: Sendable {
    public struct Mark: Sendable, Equatable {
        public var line: Int
        public var column: Int
    }

    public enum Kind: Sendable {
        /// `plain` is false for quoted and block scalars: those are always strings.
        case scalar(String, plain: Bool)
        case sequence([Int])
        case mapping([(key: Int, value: Int)])
    }

    public struct Node: Sendable {
        public var kind: Kind
        public var mark: Mark
        public var tag: String?
    }

    public var nodes: [Node]
    public var root: Int?

    public subscript(i: Int) -> Node { nodes[i] }

    public struct Limits: Sendable {
        public var maxBytes = 4 << 20
        public var maxDepth = 64
        /// Nodes the document may expand to with aliases followed.
        public var maxExpandedNodes = 100_000
        public init() {}
    }

    public struct ParseError: Error, Sendable, Equatable {
        public var mark: Mark
        public var message: String
    }

    /// Parses one YAML document. Empty input gives a document without a root.
    public static func parse(_ bytes: [UInt8], limits: Limits = Limits()) throws(ParseError) -> YAMLDocument {
        if bytes.count > limits.maxBytes {
            throw ParseError(mark: Mark(line: 1, column: 1),
                             message: "file is \(sizeText(bytes.count)); the limit for a policy is \(sizeText(limits.maxBytes))")
        }
        var builder = Builder(limits: limits, bytes: bytes)
        return try builder.run()
    }

    static func sizeText(_ n: Int) -> String {
        n >= 1 << 20 ? "\(n >> 20) MiB" : n >= 1 << 10 ? "\(n >> 10) KiB" : "\(n) bytes"
    }
}

private struct Builder {
    /// A collection being read: its children and expanded size so far.
    struct Open {
        var index: Int
        var items: [Int] = []
        var pairs: [(key: Int, value: Int)] = []
        var pendingKey: Int?
        var size = 1
    }

    let limits: YAMLDocument.Limits
    let bytes: [UInt8]
    var nodes: [YAMLDocument.Node] = []
    var sizes: [Int] = []          // expanded size per node; -1 while still open
    var anchors: [String: Int] = [:]
    var stack: [Open] = []
    var root: Int?
    var documents = 0

    init(limits: YAMLDocument.Limits, bytes: [UInt8]) {
        self.limits = limits
        self.bytes = bytes
    }

    mutating func run() throws(YAMLDocument.ParseError) -> YAMLDocument {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw YAMLDocument.ParseError(mark: .init(line: 1, column: 1), message: "out of memory")
        }
        defer { yaml_parser_delete(&parser) }
        let copy = bytes
        return try copy.withUnsafeBufferPointer { buf throws(YAMLDocument.ParseError) -> YAMLDocument in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            var event = yaml_event_t()
            while true {
                guard yaml_parser_parse(&parser, &event) == 1 else { throw parserError(&parser) }
                defer { yaml_event_delete(&event) }
                let done = event.type == YAML_STREAM_END_EVENT
                try handle(&event)
                if done { break }
            }
            return YAMLDocument(nodes: nodes, root: root)
        }
    }

    func mark(_ m: yaml_mark_t) -> YAMLDocument.Mark { .init(line: Int(m.line) + 1, column: Int(m.column) + 1) }

    func string(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        guard let p else { return nil }
        return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
    }

    func parserError(_ parser: inout yaml_parser_t) -> YAMLDocument.ParseError {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        var m: YAMLDocument.Mark
        if parser.error == YAML_READER_ERROR {
            m = markAtOffset(Int(parser.problem_offset))
            if problem.contains("UTF-8") || problem.contains("octet") {
                return .init(mark: m, message: "not valid UTF-8 (\(problem)); policy files must be UTF-8 text")
            }
        } else {
            m = mark(parser.problem_mark)
        }
        var message = problem
        if let ctx = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) \(ctx)"
            // Point at where the enclosing construct started, as a hint.
            let cm = mark(parser.context_mark)
            if cm != m { message += " (line \(cm.line), column \(cm.column))" }
        }
        return .init(mark: m, message: message)
    }

    func markAtOffset(_ offset: Int) -> YAMLDocument.Mark {
        var line = 1, col = 1
        var i = 0
        while i < min(offset, bytes.count) {
            if bytes[i] == 0x0A { line += 1; col = 1 } else if bytes[i] & 0xC0 != 0x80 { col += 1 }
            i += 1
        }
        return .init(line: line, column: col)
    }

    mutating func handle(_ event: inout yaml_event_t) throws(YAMLDocument.ParseError) {
        let m = mark(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                throw .init(mark: m, message: "a policy file holds one YAML document; found a second '---'")
            }
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
            let plain = s.style == YAML_PLAIN_SCALAR_STYLE
            let tag = try checkedTag(string(s.tag), at: m)
            let index = append(.init(kind: .scalar(text, plain: plain && tag == nil), mark: m, tag: tag),
                               anchor: string(s.anchor), size: 1)
            try attach(index)
        case YAML_SEQUENCE_START_EVENT:
            let tag = try checkedTag(string(event.data.sequence_start.tag), at: m)
            try open(.init(kind: .sequence([]), mark: m, tag: tag), anchor: string(event.data.sequence_start.anchor))
        case YAML_MAPPING_START_EVENT:
            let tag = try checkedTag(string(event.data.mapping_start.tag), at: m)
            try open(.init(kind: .mapping([]), mark: m, tag: tag), anchor: string(event.data.mapping_start.anchor))
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let done = stack.removeLast()
            if case .sequence = nodes[done.index].kind {
                nodes[done.index].kind = .sequence(done.items)
            } else {
                nodes[done.index].kind = .mapping(done.pairs)
            }
            sizes[done.index] = done.size
            try attach(done.index)
        case YAML_ALIAS_EVENT:
            let name = string(event.data.alias.anchor) ?? ""
            guard let target = anchors[name] else {
                throw .init(mark: m, message: "alias *\(name) refers to no anchor &\(name) defined before it")
            }
            guard sizes[target] >= 0 else {
                throw .init(mark: m, message: "alias *\(name) refers to a node that contains it (recursive alias)")
            }
            try attach(target)
        default:
            break
        }
    }

    func checkedTag(_ tag: String?, at m: YAMLDocument.Mark) throws(YAMLDocument.ParseError) -> String? {
        guard let tag else { return nil }
        switch tag {
        case "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "!":
            return tag == "!" ? nil : tag
        default:
            throw .init(mark: m, message: "YAML tag \(tag) is not allowed in a policy (only !!str, !!map, !!seq)")
        }
    }

    mutating func open(_ node: YAMLDocument.Node, anchor: String?) throws(YAMLDocument.ParseError) {
        if stack.count >= limits.maxDepth {
            throw .init(mark: node.mark, message: "nested deeper than \(limits.maxDepth) levels")
        }
        let index = append(node, anchor: anchor, size: -1)
        stack.append(Open(index: index))
    }

    mutating func append(_ node: YAMLDocument.Node, anchor: String?, size: Int) -> Int {
        nodes.append(node)
        sizes.append(size)
        let index = nodes.count - 1
        if let anchor { anchors[anchor] = index }
        return index
    }

    /// Adds a finished node to the open collection, or makes it the root.
    /// Sizes count aliases expanded, so a bomb is stopped while it is read.
    mutating func attach(_ index: Int) throws(YAMLDocument.ParseError) {
        guard !stack.isEmpty else {
            root = index
            return
        }
        let top = stack.count - 1
        if case .sequence = nodes[stack[top].index].kind {
            stack[top].items.append(index)
        } else if let key = stack[top].pendingKey {
            stack[top].pairs.append((key, index))
            stack[top].pendingKey = nil
        } else {
            stack[top].pendingKey = index
        }
        stack[top].size += sizes[index]
        if stack[top].size > limits.maxExpandedNodes {
            throw .init(mark: nodes[index].mark,
                        message: "document expands to more than \(limits.maxExpandedNodes) nodes through aliases (an alias bomb?)")
        }
    }
}
