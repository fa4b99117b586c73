namespace HuatuoAspire.Model.Tokenization;

/// <summary>
/// An entry of tokenizer.json's <c>added_tokens</c>: a string matched literally in the input before the BPE
/// model sees it. <see cref="Special"/> tokens are the ones <c>skip_special_tokens</c> drops when decoding.
/// </summary>
public sealed record AddedToken(int Id, string Content, bool Special, bool LStrip = false, bool RStrip = false);
