namespace HuatuoAspire.Domain.Reward;

/// <summary>A scored response: the reward, whether the format held and whether the verifier accepted it.</summary>
public sealed record RewardResult(double Reward, bool WellFormed, bool Correct, string Reason);
