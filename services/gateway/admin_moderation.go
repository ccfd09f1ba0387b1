package gateway

// MODERATION HOOK. The admin page's moderation actions (mute, kick, ban,
// delete a message: issue 16) are another branch's work ("moderation").
// Its routes go here: each is mounted under proto.AdminAPIPrefix, behind
// the admin key like every other admin route, and listed in
// proto.AdminRoutes so that the route table tests cover it. The page's
// side is the section marked MODERATION HOOK in admin/index.html and
// admin/admin.js. None yet.
func (a *adminServer) moderationRoutes() map[string]adminRoute { return nil }
