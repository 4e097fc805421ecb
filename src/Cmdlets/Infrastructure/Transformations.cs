using System.Management.Automation;

namespace Sandbox.Commands.Infrastructure;

/// <summary>
/// Lets -Sandbox take a sandbox object, its name or id, or a deserialized sandbox (from a job or
/// remoting, where only its Id and Name properties survive); for a SandboxInfo[] parameter, a list
/// of any of these (Remove-Sandbox a, b).
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SandboxTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        if (value is System.Collections.IList list)
            return list.Cast<object>().Select(One).ToArray();
        return One(inputData);
    }

    private static object One(object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        if (value is SandboxInfo sandbox) return sandbox;
        var key = value as string
                  ?? (inputData as PSObject)?.Properties["Id"]?.Value as string
                  ?? (inputData as PSObject)?.Properties["Name"]?.Value as string;
        if (key is null) return inputData;
        try { return SandboxEngine.Open().GetSandbox(key); }
        catch (SandboxException e)
        {
            // Names here are exact; a pattern is for -Name (Remove-Sandbox -Name 'test-*', Get-Sandbox 'test-*').
            var hint = WildcardPattern.ContainsWildcardCharacters(key) ? " Wildcards work with -Name, e.g. Get-Sandbox 'test-*'." : "";
            throw new ArgumentTransformationMetadataException(e.Message + hint, e);
        }
    }
}

/// <summary>Lets -Image take an image object, its name, or a deserialized image.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ImageNameTransformationAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        return value switch
        {
            SandboxImage image => image.Name,
            string name => name,
            _ => (inputData as PSObject)?.Properties["Name"]?.Value as string ?? inputData,
        };
    }
}
