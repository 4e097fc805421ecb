using System.Runtime.InteropServices;

namespace Sandbox.Native;

/// <summary>Who the engine runs as: root gets host mounts and the root-only providers.</summary>
internal static class UserIdentity
{
    public static bool IsRoot => LibC.geteuid() == 0;

    public static uint EffectiveUid => LibC.geteuid();
}
