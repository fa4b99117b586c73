namespace HuatuoAspire.Model.StructuredOutput;

/// <summary>A JSON schema uses something constrained decoding cannot enforce; the message names each such thing and where.</summary>
public sealed class UnsupportedJsonSchemaException(string message) : Exception(message);
