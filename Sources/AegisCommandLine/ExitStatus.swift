/// Exit statuses scripts can rely on (DESIGN §5; man aegis-exec, EXIT STATUS).
package enum ExitStatus {
    /// Refused: blocked by policy, approval denied, timed out or unavailable.
    package static let refused: Int32 = 77
    /// Configuration error: policy missing, unreadable or invalid; audit store unusable.
    package static let configuration: Int32 = 78
    /// Usage error or internal failure of aegis-exec.
    package static let usage: Int32 = 125
    /// The command was found but could not be executed.
    package static let cannotExecute: Int32 = 126
    /// The command was not found.
    package static let notFound: Int32 = 127
}
