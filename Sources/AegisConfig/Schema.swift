/// The JSON Schema placeholder; replaced below.
public enum PolicySchema {
    public static let json = "{}"
}
