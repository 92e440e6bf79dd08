namespace Rose;

/// <summary>A user-facing failure: bad input, a malformed file, an impossible request.
/// The CLI prints its message on one line and exits with code 1.</summary>
public class RoseException : Exception
{
    public RoseException(string message) : base(message) { }
    public RoseException(string message, Exception inner) : base(message, inner) { }
}
