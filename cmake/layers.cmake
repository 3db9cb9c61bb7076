# The layers of libockam, lowest first: the one place that says which layers
# each layer may use (DEPENDS, direct; their own dependencies come along) and
# which public headers of include/ockam/ it owns (HEADERS).
#
# The build gives each layer an include path with only the public headers of
# itself and the layers below it (build/layers/<layer>/include/ockam/, links
# to include/ockam/), and only their source folders; tests/layering.cmake
# (ctest "layering") checks every #include of src/ against the same table.
# ockam.h and the generated ockam/version.h belong to no layer: they are for
# applications.
set(OCKAM_LAYERS core codec vault identity transport channel storage stream hub)

set(OCKAM_LAYER_core_DEPENDS)
set(OCKAM_LAYER_core_HEADERS error.h limits.h log.h message.h node.h route.h)

set(OCKAM_LAYER_codec_DEPENDS core)
set(OCKAM_LAYER_codec_HEADERS)

set(OCKAM_LAYER_vault_DEPENDS core)
set(OCKAM_LAYER_vault_HEADERS vault.h)

set(OCKAM_LAYER_identity_DEPENDS core codec vault)
set(OCKAM_LAYER_identity_HEADERS identity.h)

set(OCKAM_LAYER_transport_DEPENDS core codec)
set(OCKAM_LAYER_transport_HEADERS tcp.h forwarder.h)

set(OCKAM_LAYER_channel_DEPENDS core codec vault identity)
set(OCKAM_LAYER_channel_HEADERS channel.h identity_channel.h)

set(OCKAM_LAYER_storage_DEPENDS core)
set(OCKAM_LAYER_storage_HEADERS)

set(OCKAM_LAYER_stream_DEPENDS core codec channel)
set(OCKAM_LAYER_stream_HEADERS stream.h)

set(OCKAM_LAYER_hub_DEPENDS core codec transport storage identity channel)
set(OCKAM_LAYER_hub_HEADERS hub.h)

# ockam_layer_closure(LAYER OUT): LAYER and every layer it may use.
function(ockam_layer_closure layer out)
  set(todo ${layer})
  set(seen)
  while(todo)
    list(POP_FRONT todo l)
    if(NOT l IN_LIST seen)
      list(APPEND seen ${l})
      list(APPEND todo ${OCKAM_LAYER_${l}_DEPENDS})
    endif()
  endwhile()
  set(${out} ${seen} PARENT_SCOPE)
endfunction()
