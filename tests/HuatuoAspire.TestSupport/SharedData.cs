namespace HuatuoAspire.TestSupport;

/// <summary>The reference data beside the checkout (<c>shared/</c> sits next to the clone in CI).</summary>
public static class SharedData
{
    /// <summary>shared/data/huatuo/demo_data.json, looked for in the checkout's folder and every folder above it.</summary>
    public static string DemoFile
    {
        get
        {
            for (var dir = new DirectoryInfo(Checkout.Root); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data", "huatuo", "demo_data.json");
                if (File.Exists(candidate)) return candidate;
            }
            throw new FileNotFoundException($"shared/data/huatuo/demo_data.json not found in any folder above {Checkout.Root}.");
        }
    }
}
