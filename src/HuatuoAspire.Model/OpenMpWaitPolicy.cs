using System.Runtime.InteropServices;

namespace HuatuoAspire.Model;

/// <summary>
/// How libtorch's OpenMP threads wait between parallel regions. By default they spin for a while; during decode that
/// spinning takes the cores the decode kernel's own workers need (<see cref="Modules.MatVec"/>), and on a 2-core
/// machine 2-thread decode then runs slower than 1-thread decode. Waiting passively measured (qwen2 base, 2 threads):
/// decode 38 → 66 tokens/s at batch 1, prefill 494 → 411 tokens/s, an SFT step 10 % slower. So the commands that
/// serve or generate ask for it; training commands keep the default.
/// </summary>
public static partial class OpenMpWaitPolicy
{
    /// <summary>
    /// Sets <c>OMP_WAIT_POLICY=PASSIVE</c> in the native environment unless the user set a policy. OpenMP reads it
    /// once, when libtorch is loaded, so this must run before the first tensor is made; later it changes nothing.
    /// </summary>
    public static bool PreferPassive()
    {
        if (!OperatingSystem.IsLinux() || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("OMP_WAIT_POLICY"))) return false;
        // Environment.SetEnvironmentVariable only changes .NET's own copy on Unix; OpenMP reads the C environment.
        return SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0) == 0;
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
